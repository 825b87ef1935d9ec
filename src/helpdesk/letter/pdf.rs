//! The composed page written as PDF/A-2u with krilla: real text in embedded, subset fonts, each
//! glyph mapped to its Unicode text so the document can be searched and copied.

use krilla::Document;
use krilla::color::rgb;
use krilla::configure::{Archival, ConfigurationBuilder};
use krilla::geom::{PathBuilder, Point};
use krilla::metadata::{DateTime, Metadata};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Paint, Stroke, StrokeDash};
use krilla::surface::Surface;
use krilla::text::TextDirection;
use krilla::{SerializeSettings, geom};
use time::Date;

use super::LetterError;
use super::fonts::Fonts;
use super::layout::{Ink, Item, PAGE_HEIGHT, PAGE_WIDTH};

/// What the document says about itself.
pub(super) struct About<'a> {
    pub title: &'a str,
    pub lang: &'a str,
    pub created: Date,
}

/// The PDF of one page of `items`.
pub(super) fn write(
    items: &[Item],
    fonts: &Fonts,
    accent: [u8; 3],
    about: &About<'_>,
) -> Result<Vec<u8>, LetterError> {
    let pdf_error = |error: String| LetterError::Pdf(error);
    // PDF/A-2u: fonts embedded, colours in sRGB, every glyph with its Unicode text; krilla refuses
    // to write a document that breaks a rule it can check (e.g. a glyph the font lacks).
    let configuration = ConfigurationBuilder::new()
        .with_archival_validator(Archival::A2_U)
        .finish()
        .map_err(|error| pdf_error(format!("{error:?}")))?;
    let mut document = Document::new_with(SerializeSettings {
        configuration,
        ..SerializeSettings::default()
    });
    let created = about.created;
    document.set_metadata(
        Metadata::new()
            .title(about.title.to_owned())
            .language(about.lang.to_owned())
            .creator("tunnus".to_owned())
            .creation_date(
                DateTime::new(u16::try_from(created.year()).unwrap_or(0))
                    .month(u8::from(created.month()))
                    .day(created.day()),
            ),
    );
    let settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT)
        .ok_or_else(|| pdf_error("the page size is not valid".into()))?;
    let mut page = document.start_page_with(settings);
    let mut surface = page.surface();
    for item in items {
        draw(&mut surface, item, fonts, accent);
    }
    surface.finish();
    page.finish();
    document
        .finish()
        .map_err(|error| pdf_error(error.to_string()))
}

fn paint(ink: Ink, accent: [u8; 3]) -> Paint {
    let [r, g, b] = match ink {
        Ink::Text => [0, 0, 0],
        Ink::Muted => [80, 80, 80],
        Ink::Accent => accent,
        Ink::Tint => [242, 244, 247],
        Ink::Mask => [40, 40, 40],
        Ink::Guide => [150, 150, 150],
    };
    rgb::Color::new(r, g, b).into()
}

fn fill(ink: Ink, accent: [u8; 3]) -> Fill {
    Fill {
        paint: paint(ink, accent),
        ..Fill::default()
    }
}

fn stroke(ink: Ink, accent: [u8; 3], width: f32, dashed: bool) -> Stroke {
    Stroke {
        paint: paint(ink, accent),
        width,
        dash: dashed.then(|| StrokeDash {
            array: vec![4.0, 3.0],
            offset: 0.0,
        }),
        ..Stroke::default()
    }
}

fn draw(surface: &mut Surface<'_>, item: &Item, fonts: &Fonts, accent: [u8; 3]) {
    match item {
        Item::Text {
            style,
            x,
            baseline,
            text,
            ..
        } => {
            surface.set_stroke(None);
            surface.set_fill(Some(fill(style.ink, accent)));
            surface.draw_text(
                Point::from_xy(*x, *baseline),
                fonts.krilla(style.face),
                style.size,
                text,
                false,
                TextDirection::Auto,
            );
        }
        Item::Line {
            from,
            to,
            width,
            ink,
            dashed,
            ..
        } => {
            let mut path = PathBuilder::new();
            path.move_to(from.0, from.1);
            path.line_to(to.0, to.1);
            if let Some(path) = path.finish() {
                surface.set_fill(None);
                surface.set_stroke(Some(stroke(*ink, accent, *width, *dashed)));
                surface.draw_path(&path);
            }
        }
        Item::Box {
            rect,
            fill: inside,
            stroke: edge,
            ..
        } => {
            let Some(rect) = geom::Rect::from_ltrb(rect.left, rect.top, rect.right, rect.bottom)
            else {
                return;
            };
            let mut path = PathBuilder::new();
            path.push_rect(rect);
            if let Some(path) = path.finish() {
                surface.set_fill(inside.map(|ink| fill(ink, accent)));
                surface.set_stroke(edge.map(|(ink, width)| stroke(ink, accent, width, false)));
                surface.draw_path(&path);
            }
        }
    }
}
