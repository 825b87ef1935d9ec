//! Where everything goes on the page: the three documents composed into positioned items (text,
//! lines, boxes) in points from the top-left corner of an A4 sheet, before any PDF is written, so
//! the layout rules can be tested on the numbers.
//!
//! ## The registered letter and the window envelope
//!
//! The letter follows the Finnish letter layout of SFS 2486 / SFS 2487 and fits the window
//! envelopes of SFS 2488 (C5 — the sheet folded once — and C65 — folded in three), as summarised in
//! the `koma-script-sfs` letter class option (`SFS.lco`, TeX Live), which cites SFS-käsikirja 76
//! (5th edition, 2000):
//!
//! - the address window of C5 and C65 envelopes is **95 mm wide and 35 mm high, 18 mm from the
//!   envelope's left edge and 40 mm from its top** (E5 / E65 envelopes: 90 × 30 mm at the same place);
//! - the letter's left margin is 20 mm; rows are 4.233 mm (1/6 inch); the recipient's address
//!   field is rows 10–15, 76.2 × 25.4 mm from 20 mm, its first line ending about 44 mm from the top;
//!   the document's name and date go in the column 4 × 23 mm right of the margin; the sender's
//!   contact details go in rows 64–68 at the foot.
//!
//! The sheet can move a little inside the envelope, so the address block (a small return-address
//! line, then the recipient's name and address) is kept [`WINDOW_INSET`] inside the window on
//! every side, indented to 23 mm as `SFS.lco` does ("so that it surely shows"). SFS 2487 itself
//! keeps the sender out of the window; this letter prints one return line in small type at the
//! top of the window, as the envelopes are plain and a registered letter must be returnable. The
//! activation code is printed below the first fold (99 mm, C65), well away from the window.
//!
//! ## The janitor slip
//!
//! A sealed slip on one A4 sheet, Z-folded in three 99 mm panels: the top panel (the outside)
//! names the person, the campus and the pick-up point and says it is handed over only against
//! proof of identity; it is folded back behind the middle panel, which holds the username and the
//! code; the bottom panel, with the instructions, is folded forward over the middle one and the
//! slip is taped shut. The bottom panel carries a dark band exactly where it covers the code, so
//! the code cannot be read by holding the sealed slip against a light.

use super::LetterError;
use super::fonts::{Face, Shaper};
use super::texts::{self, Texts};

/// Points in a millimetre.
pub(super) const MM: f32 = 72.0 / 25.4;

/// `value` millimetres in points.
pub(super) const fn mm(value: f32) -> f32 {
    value * MM
}

pub(super) const PAGE_WIDTH: f32 = mm(210.0);
pub(super) const PAGE_HEIGHT: f32 = mm(297.0);

/// The left margin of SFS 2487.
const LEFT: f32 = mm(20.0);
const RIGHT: f32 = mm(190.0);
/// SFS 2487's column 4: 20 mm + 4 × 23 mm, for the document's name and date.
const COLUMN_4: f32 = mm(112.0);
/// Row 64 of SFS 2487 (63 × 4.233 mm), where the sender's contact details begin.
const FOOTER_TOP: f32 = mm(266.7);
/// The body of a page ends above the footer.
const BODY_BOTTOM: f32 = mm(262.0);

/// The address window of C5 and C65 window envelopes (SFS 2488), on the sheet.
pub(super) const WINDOW: Rect = Rect::from_mm(18.0, 40.0, 113.0, 75.0);
/// How far inside the window the address block stays, for the sheet's play in the envelope.
pub(super) const WINDOW_INSET: f32 = mm(3.0);
/// Where the address block may be: the window less the inset on every side.
pub(super) const ADDRESS_AREA: Rect = Rect {
    left: WINDOW.left + WINDOW_INSET,
    top: WINDOW.top + WINDOW_INSET,
    right: WINDOW.right - WINDOW_INSET,
    bottom: WINDOW.bottom - WINDOW_INSET,
};
/// The address lines begin here (`SFS.lco`'s 18 mm + 5 mm).
const ADDRESS_X: f32 = mm(23.0);
/// The folds of a letter in three for a C65 envelope, and of the janitor slip's panels.
pub(super) const FOLDS: [f32; 2] = [mm(99.0), mm(198.0)];
/// The fold of a letter once for a C5 envelope.
const FOLD_C5: f32 = mm(148.5);
/// On a letter the code box starts below the first fold.
const LETTER_CODE_TOP: f32 = mm(104.0);

// The address lines start inside the area; the window lies in the top panel of a letter folded in
// three, above the code.
const _: () = assert!(ADDRESS_X >= ADDRESS_AREA.left && WINDOW.bottom < FOLDS[0]);
const _: () = assert!(WINDOW.bottom < LETTER_CODE_TOP && FOLDS[0] < LETTER_CODE_TOP);

/// A rectangle in points, y growing downwards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Rect {
    pub left: f32,
    pub top: f32,
    pub right: f32,
    pub bottom: f32,
}

impl Rect {
    pub const fn from_mm(left: f32, top: f32, right: f32, bottom: f32) -> Rect {
        Rect {
            left: mm(left),
            top: mm(top),
            right: mm(right),
            bottom: mm(bottom),
        }
    }

    #[cfg(test)]
    pub fn contains(&self, other: &Rect) -> bool {
        other.left >= self.left
            && other.right <= self.right
            && other.top >= self.top
            && other.bottom <= self.bottom
    }

    #[cfg(test)]
    pub fn intersects(&self, other: &Rect) -> bool {
        other.left < self.right
            && other.right > self.left
            && other.top < self.bottom
            && other.bottom > self.top
    }
}

/// The colours of the documents; [`Ink::Accent`] is the organisation's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ink {
    Text,
    Muted,
    Accent,
    /// The light background of the code box.
    Tint,
    /// The dark band that hides the code of a folded slip from a light behind it.
    Mask,
    /// Fold lines.
    Guide,
}

/// What an item is, for the tests of the layout rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Plain,
    /// The return-address line above the recipient's address.
    Sender,
    /// The recipient's name and address lines in the envelope window.
    Address,
    /// The activation code.
    Code,
    /// The band hiding the code of a folded slip.
    Mask,
    Fold,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Style {
    pub face: Face,
    pub size: f32,
    pub ink: Ink,
}

const fn style(face: Face, size: f32, ink: Ink) -> Style {
    Style { face, size, ink }
}

const BODY: Style = style(Face::Regular, 10.5, Ink::Text);
const BODY_LEADING: f32 = 14.0;
const SMALL: Style = style(Face::Regular, 9.5, Ink::Text);
const SMALL_LEADING: f32 = 12.5;
const NOTE: Style = style(Face::Regular, 9.0, Ink::Muted);
const LABEL: Style = style(Face::Regular, 9.0, Ink::Muted);
const VALUE: Style = style(Face::Bold, 11.0, Ink::Text);
const MONO: Style = style(Face::Mono, 12.0, Ink::Text);
const CODE: Style = style(Face::Mono, 24.0, Ink::Text);
const HEADING: Style = style(Face::Bold, 11.0, Ink::Text);

/// One thing drawn on the page, in painting order.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Item {
    Text {
        role: Role,
        style: Style,
        x: f32,
        baseline: f32,
        text: String,
    },
    Line {
        role: Role,
        from: (f32, f32),
        to: (f32, f32),
        width: f32,
        ink: Ink,
        dashed: bool,
    },
    Box {
        role: Role,
        rect: Rect,
        fill: Option<Ink>,
        stroke: Option<(Ink, f32)>,
    },
}

/// The checked values a document prints.
pub(super) struct Fields {
    pub name: String,
    pub username: String,
    /// Grouped for reading, e.g. `7KQM-2XRD-9TPA-F4WN`.
    pub code: String,
    pub url: String,
    pub last_day: String,
    pub issued: String,
    pub kind: Kind,
}

pub(super) enum Kind {
    InPerson,
    Janitor {
        campus: String,
        pick_up_point: String,
    },
    /// The recipient's address lines after the name, each with its name for error messages.
    Letter {
        address: Vec<(String, String)>,
    },
}

/// What the organisation's settings put on the documents.
pub(super) struct Brand<'a> {
    pub organisation: Option<&'a str>,
    /// The return-address line of a letter.
    pub sender: Option<String>,
    pub contact: &'a [String],
}

/// The page of one document.
pub(super) fn compose(
    fields: &Fields,
    texts: &Texts,
    brand: &Brand<'_>,
    shaper: &Shaper<'_>,
) -> Result<Vec<Item>, LetterError> {
    let mut page = Composer {
        shaper,
        items: Vec::new(),
    };
    page.covered("full_name", &fields.name, &[Face::Regular, Face::Bold])?;
    page.covered("username", &fields.username, &[Face::Mono])?;
    page.covered("code", &fields.code, &[Face::Mono])?;
    page.covered("redeem_url", &fields.url, &[Face::Regular, Face::Bold])?;
    match &fields.kind {
        Kind::InPerson => {
            page.header(fields, texts, brand)?;
            let bottom = page.body(fields, texts, mm(36.0), 0.0)?;
            page.fits_above("full_name", bottom, BODY_BOTTOM)?;
            page.footer(brand)?;
        }
        Kind::Letter { address } => {
            for (field, line) in address {
                page.covered(field, line, &[Face::Regular])?;
            }
            page.header(fields, texts, brand)?;
            page.address_block(brand.sender.as_deref(), &fields.name, address)?;
            page.fold_marks();
            let bottom = page.body(fields, texts, mm(82.0), LETTER_CODE_TOP)?;
            page.fits_above("full_name", bottom, BODY_BOTTOM)?;
            page.footer(brand)?;
        }
        Kind::Janitor {
            campus,
            pick_up_point,
        } => {
            page.covered("campus", campus, &[Face::Regular])?;
            page.covered("pick_up_point", pick_up_point, &[Face::Regular])?;
            page.janitor(fields, texts, brand, campus, pick_up_point)?;
        }
    }
    Ok(page.items)
}

/// A value printed in a column, shrunk to fit down to `min` points, else refused naming `field`.
struct Value<'t> {
    field: &'t str,
    text: &'t str,
    style: Style,
    min: f32,
    role: Role,
}

impl<'t> Value<'t> {
    fn new(field: &'t str, text: &'t str, style: Style, min: f32) -> Self {
        Value {
            field,
            text,
            style,
            min,
            role: Role::Plain,
        }
    }
}

/// The label column and the value column of a row.
#[derive(Clone, Copy)]
struct Columns {
    label_x: f32,
    value_x: f32,
    right: f32,
}

struct Composer<'a> {
    shaper: &'a Shaper<'a>,
    items: Vec<Item>,
}

impl Composer<'_> {
    /// Refuses `text` if one of `faces` lacks a character of it.
    fn covered(&self, field: &str, text: &str, faces: &[Face]) -> Result<(), LetterError> {
        for face in faces {
            if let Some(c) = self.shaper.lacks(*face, text) {
                return Err(LetterError::field(
                    field,
                    format!(
                        "contains “{c}” (U+{:04X}), which the letter font cannot print",
                        u32::from(c)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Refuses a page whose part ending at `bottom` reaches below `limit`; `field` is what made it
    /// long (the only text of variable height is the greeting, which holds the name).
    fn fits_above(&self, field: &str, bottom: f32, limit: f32) -> Result<(), LetterError> {
        if bottom > limit {
            return Err(LetterError::field(
                field,
                "makes the document longer than its page: shorten it",
            ));
        }
        Ok(())
    }

    fn width(&self, style: Style, text: &str) -> f32 {
        self.shaper.width(style.face, style.size, text)
    }

    fn ascent(&self, style: Style) -> f32 {
        self.shaper.ascent(style.face, style.size)
    }

    fn descent(&self, style: Style) -> f32 {
        self.shaper.descent(style.face, style.size)
    }

    fn text(&mut self, role: Role, style: Style, x: f32, baseline: f32, text: &str) {
        self.items.push(Item::Text {
            role,
            style,
            x,
            baseline,
            text: text.to_owned(),
        });
    }

    fn line(&mut self, role: Role, from: (f32, f32), to: (f32, f32), ink: Ink, width: f32) {
        self.items.push(Item::Line {
            role,
            from,
            to,
            width,
            ink,
            dashed: false,
        });
    }

    /// `style` at the largest size (in half points, down to `min`) at which `text` is at most
    /// `width` wide.
    fn fit(
        &self,
        field: &str,
        style: Style,
        min: f32,
        width: f32,
        text: &str,
    ) -> Result<Style, LetterError> {
        let mut size = style.size;
        while size >= min {
            let sized = Style { size, ..style };
            if self.width(sized, text) <= width {
                return Ok(sized);
            }
            size -= 0.5;
        }
        Err(LetterError::field(
            field,
            format!(
                "is too long to print on one line ({:.0} mm at most)",
                width / MM
            ),
        ))
    }

    /// `value` fitted into `right - x` and drawn at `x`.
    fn value(
        &mut self,
        value: &Value<'_>,
        x: f32,
        right: f32,
        baseline: f32,
    ) -> Result<f32, LetterError> {
        let style = self.fit(value.field, value.style, value.min, right - x, value.text)?;
        self.text(value.role, style, x, baseline, value.text);
        Ok(self.width(style, value.text))
    }

    fn row(
        &mut self,
        columns: Columns,
        baseline: f32,
        label: &str,
        value: &Value<'_>,
    ) -> Result<(), LetterError> {
        let label_style = self.fit(
            "texts",
            LABEL,
            6.5,
            columns.value_x - columns.label_x - mm(2.0),
            label,
        )?;
        self.text(Role::Plain, label_style, columns.label_x, baseline, label);
        self.value(value, columns.value_x, columns.right, baseline)?;
        Ok(())
    }

    /// The lines of `text` wrapped at spaces to `width`; a word longer than a line is broken.
    fn wrap(&self, style: Style, width: f32, text: &str) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        for word in text.split(' ').filter(|word| !word.is_empty()) {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if self.width(style, &candidate) <= width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // The word alone: break it where it overflows.
            for c in word.chars() {
                line.push(c);
                if self.width(style, &line) > width && line.chars().count() > 1 {
                    line.pop();
                    lines.push(std::mem::take(&mut line));
                    line.push(c);
                }
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines
    }

    /// Draws `text` wrapped from `top` down; returns where its last line ends.
    fn paragraph(&mut self, style: Style, leading: f32, x: f32, top: f32, text: &str) -> f32 {
        let width = RIGHT - x;
        let mut baseline = top + self.ascent(style);
        let lines = self.wrap(style, width, text);
        for (index, line) in lines.iter().enumerate() {
            if index > 0 {
                baseline += leading;
            }
            self.text(Role::Plain, style, x, baseline, line);
        }
        baseline + self.descent(style)
    }

    /// The organisation, the document's name and its date, above a rule.
    fn header(
        &mut self,
        fields: &Fields,
        texts: &Texts,
        brand: &Brand<'_>,
    ) -> Result<(), LetterError> {
        if let Some(organisation) = brand.organisation {
            let style = style(Face::Bold, 14.0, Ink::Accent);
            self.value(
                &Value::new("helpdesk.letters.organisation", organisation, style, 9.0),
                LEFT,
                COLUMN_4 - mm(4.0),
                mm(17.0),
            )?;
        }
        let title = style(Face::Bold, 13.0, Ink::Text);
        self.value(
            &Value::new("texts", &texts.title, title, 8.0),
            COLUMN_4,
            RIGHT,
            mm(17.0),
        )?;
        let date = format!("{} {}", texts.date, fields.issued);
        self.value(
            &Value::new("texts", &date, NOTE, 7.0),
            COLUMN_4,
            RIGHT,
            mm(22.5),
        )?;
        self.line(
            Role::Plain,
            (LEFT, mm(27.0)),
            (RIGHT, mm(27.0)),
            Ink::Accent,
            0.8,
        );
        Ok(())
    }

    /// The return line and the recipient's name and address, inside [`ADDRESS_AREA`].
    fn address_block(
        &mut self,
        sender: Option<&str>,
        name: &str,
        address: &[(String, String)],
    ) -> Result<(), LetterError> {
        let area = ADDRESS_AREA;
        let width = area.right - ADDRESS_X;
        let mut top = area.top;
        if let Some(sender) = sender {
            let style = self.fit(
                "helpdesk.letters.sender",
                style(Face::Regular, 7.0, Ink::Muted),
                6.0,
                width,
                sender,
            )?;
            let baseline = top + self.ascent(style);
            self.text(Role::Sender, style, ADDRESS_X, baseline, sender);
            let under = baseline + self.descent(style) + 0.6;
            let end = ADDRESS_X + self.width(style, sender);
            self.line(
                Role::Sender,
                (ADDRESS_X, under),
                (end, under),
                Ink::Muted,
                0.4,
            );
            top = under + mm(2.0);
        }
        let mut lines = vec![("full_name", name)];
        lines.extend(
            address
                .iter()
                .map(|(field, line)| (field.as_str(), line.as_str())),
        );
        let mut too_wide = None;
        let mut most_lines = 0;
        for (size, leading) in [(10.0, 12.0), (9.0, 10.8), (8.0, 9.6)] {
            let style = style(Face::Regular, size, Ink::Text);
            let first = top + self.ascent(style);
            let room = area.bottom - self.descent(style) - first;
            most_lines = (room / leading).floor().max(-1.0) as usize + 1;
            too_wide = lines
                .iter()
                .find(|(_, line)| self.width(style, line) > width)
                .map(|(field, _)| *field);
            if too_wide.is_some() || lines.len() > most_lines {
                continue;
            }
            for (index, (_, line)) in lines.iter().enumerate() {
                self.text(
                    Role::Address,
                    style,
                    ADDRESS_X,
                    first + leading * index as f32,
                    line,
                );
            }
            return Ok(());
        }
        Err(match too_wide {
            Some(field) => LetterError::field(
                field,
                format!(
                    "is too long for the envelope window ({:.0} mm at most)",
                    width / MM
                ),
            ),
            None => LetterError::field(
                "address",
                format!(
                    "has {} lines with the name; at most {most_lines} fit in the envelope window",
                    lines.len()
                ),
            ),
        })
    }

    /// Short marks at the left edge where the letter is folded (C65 in three, C5 once).
    fn fold_marks(&mut self) {
        for y in FOLDS {
            self.line(Role::Fold, (mm(5.0), y), (mm(10.0), y), Ink::Guide, 0.5);
        }
        self.line(
            Role::Fold,
            (mm(5.0), FOLD_C5),
            (mm(8.0), FOLD_C5),
            Ink::Guide,
            0.5,
        );
    }

    /// Greeting, code box, steps and warnings, from `top`; the code box starts no higher than
    /// `code_top`. Returns where the body ends.
    fn body(
        &mut self,
        fields: &Fields,
        texts: &Texts,
        top: f32,
        code_top: f32,
    ) -> Result<f32, LetterError> {
        let greeting = texts::with_name(&texts.greeting, &fields.name);
        let mut bottom = self.paragraph(BODY, BODY_LEADING, LEFT, top, &greeting);
        bottom = self.paragraph(BODY, BODY_LEADING, LEFT, bottom + mm(1.5), &texts.intro);

        let box_top = (bottom + mm(6.0)).max(code_top);
        let columns = Columns {
            label_x: LEFT + mm(5.0),
            value_x: LEFT + mm(57.0),
            right: RIGHT - mm(5.0),
        };
        let rows = [
            mm(9.5),  // name
            mm(17.5), // username
            mm(31.0), // code
            mm(41.0), // last day
        ];
        let box_bottom = box_top + rows[3] + mm(6.0);
        self.items.push(Item::Box {
            role: Role::Plain,
            rect: Rect {
                left: LEFT,
                top: box_top,
                right: RIGHT,
                bottom: box_bottom,
            },
            fill: Some(Ink::Tint),
            stroke: Some((Ink::Accent, 1.0)),
        });
        self.row(
            columns,
            box_top + rows[0],
            &texts.name,
            &Value::new("full_name", &fields.name, VALUE, 7.0),
        )?;
        self.row(
            columns,
            box_top + rows[1],
            &texts.username,
            &Value::new("username", &fields.username, MONO, 8.0),
        )?;
        let code = Value {
            role: Role::Code,
            ..Value::new("code", &fields.code, CODE, 14.0)
        };
        self.row(columns, box_top + rows[2], &texts.code, &code)?;
        self.row(
            columns,
            box_top + rows[3],
            &texts.last_day,
            &Value::new("valid_until", &fields.last_day, VALUE, 7.0),
        )?;

        bottom = self.steps(fields, texts, box_bottom + mm(7.0), (BODY, BODY_LEADING))?;
        bottom = self.paragraph(SMALL, SMALL_LEADING, LEFT, bottom + mm(4.0), &texts.expired);
        bottom = self.paragraph(
            SMALL,
            SMALL_LEADING,
            LEFT,
            bottom + mm(1.0),
            &texts.not_requested,
        );
        bottom = self.warning(
            &texts.never_ask,
            bottom + mm(4.0),
            style(Face::Bold, 10.5, Ink::Accent),
            BODY_LEADING,
        );
        bottom = self.paragraph(
            SMALL,
            SMALL_LEADING,
            LEFT,
            bottom + mm(4.0),
            &texts.keep_safe,
        );
        Ok(bottom)
    }

    /// The numbered steps, the service's address on its own line. Returns where they end.
    fn steps(
        &mut self,
        fields: &Fields,
        texts: &Texts,
        top: f32,
        (style, leading): (Style, f32),
    ) -> Result<f32, LetterError> {
        let heading = Style {
            size: style.size + 0.5,
            ..HEADING
        };
        let mut bottom = self.paragraph(heading, leading, LEFT, top, &texts.steps_title);
        let indent = LEFT + mm(6.0);
        let steps = [&texts.step_open, &texts.step_enter, &texts.step_choose];
        for (number, step) in steps.into_iter().enumerate() {
            let top = bottom + mm(1.5);
            self.text(
                Role::Plain,
                style,
                LEFT,
                top + self.ascent(style),
                &format!("{}.", number + 1),
            );
            bottom = self.paragraph(style, leading, indent, top, step);
            if number == 0 {
                let url = Style {
                    face: Face::Bold,
                    ..style
                };
                let baseline = bottom - self.descent(style) + leading;
                self.value(
                    &Value::new("redeem_url", &fields.url, url, 6.5),
                    indent,
                    RIGHT,
                    baseline,
                )?;
                bottom = baseline + self.descent(url);
            }
        }
        Ok(bottom)
    }

    /// `text` set off by a bar in the accent colour. Returns where it ends.
    fn warning(&mut self, text: &str, top: f32, style: Style, leading: f32) -> f32 {
        let bottom = self.paragraph(style, leading, LEFT + mm(4.0), top, text);
        self.line(
            Role::Plain,
            (LEFT + mm(0.8), top - 1.0),
            (LEFT + mm(0.8), bottom + 1.0),
            Ink::Accent,
            2.5,
        );
        bottom
    }

    /// The contact lines at the foot of the page.
    fn footer(&mut self, brand: &Brand<'_>) -> Result<(), LetterError> {
        if brand.contact.is_empty() {
            return Ok(());
        }
        self.line(
            Role::Plain,
            (LEFT, FOOTER_TOP - mm(2.0)),
            (RIGHT, FOOTER_TOP - mm(2.0)),
            Ink::Muted,
            0.5,
        );
        let style = style(Face::Regular, 8.0, Ink::Muted);
        for (index, line) in brand.contact.iter().enumerate() {
            let baseline = FOOTER_TOP + mm(3.0) + 10.0 * index as f32;
            self.value(
                &Value::new("helpdesk.letters.contact", line, style, 6.0),
                LEFT,
                RIGHT,
                baseline,
            )?;
        }
        Ok(())
    }

    /// A dashed line across the page at `y`, with `label` above it at the right.
    fn fold(&mut self, y: f32, label: &str) -> Result<(), LetterError> {
        self.items.push(Item::Line {
            role: Role::Fold,
            from: (mm(5.0), y),
            to: (mm(205.0), y),
            width: 0.5,
            ink: Ink::Guide,
            dashed: true,
        });
        let style = self.fit(
            "texts",
            style(Face::Regular, 7.0, Ink::Muted),
            6.0,
            mm(80.0),
            label,
        )?;
        let x = RIGHT - self.width(style, label);
        self.text(Role::Fold, style, x, y - mm(1.5), label);
        Ok(())
    }

    /// The janitor slip: outside panel, code panel, instructions panel with the mask.
    fn janitor(
        &mut self,
        fields: &Fields,
        texts: &Texts,
        brand: &Brand<'_>,
        campus: &str,
        pick_up_point: &str,
    ) -> Result<(), LetterError> {
        // Panel A, the outside: whom it is for, where it waits, how it is handed over.
        if let Some(organisation) = brand.organisation {
            let style = style(Face::Bold, 12.0, Ink::Accent);
            self.value(
                &Value::new("helpdesk.letters.organisation", organisation, style, 8.0),
                LEFT,
                mm(140.0),
                mm(15.0),
            )?;
        }
        let date = format!("{} {}", texts.date, fields.issued);
        let date_style = self.fit("texts", NOTE, 7.0, mm(45.0), &date)?;
        let x = RIGHT - self.width(date_style, &date);
        self.text(Role::Plain, date_style, x, mm(15.0), &date);
        self.value(
            &Value::new(
                "texts",
                &texts.personal,
                style(Face::Bold, 18.0, Ink::Accent),
                10.0,
            ),
            LEFT,
            RIGHT,
            mm(29.0),
        )?;
        let outside = Columns {
            label_x: LEFT,
            value_x: LEFT + mm(42.0),
            right: RIGHT,
        };
        let name = Value::new(
            "full_name",
            &fields.name,
            style(Face::Bold, 15.0, Ink::Text),
            8.0,
        );
        self.row(outside, mm(42.0), &texts.recipient, &name)?;
        let place = style(Face::Regular, 12.0, Ink::Text);
        self.row(
            outside,
            mm(51.0),
            &texts.campus,
            &Value::new("campus", campus, place, 8.0),
        )?;
        self.row(
            outside,
            mm(59.0),
            &texts.pick_up_point,
            &Value::new("pick_up_point", pick_up_point, place, 8.0),
        )?;
        let bottom = self.paragraph(SMALL, SMALL_LEADING, LEFT, mm(66.0), &texts.hand_over);
        let bottom = self.paragraph(NOTE, 11.5, LEFT, bottom + mm(1.5), &texts.seal_broken);
        self.fits_above("texts", bottom, FOLDS[0] - mm(4.0))?;
        self.fold(FOLDS[0], &texts.fold_back)?;

        // Panel B, inside: the username and the code.
        self.value(
            &Value::new(
                "texts",
                &texts.title,
                style(Face::Bold, 14.0, Ink::Text),
                8.0,
            ),
            LEFT,
            RIGHT,
            mm(110.0),
        )?;
        let inside = Columns {
            label_x: LEFT,
            value_x: LEFT + mm(52.0),
            right: RIGHT,
        };
        self.row(
            inside,
            mm(121.0),
            &texts.name,
            &Value::new("full_name", &fields.name, VALUE, 7.0),
        )?;
        self.row(
            inside,
            mm(129.0),
            &texts.username,
            &Value::new("username", &fields.username, MONO, 8.0),
        )?;
        self.row(
            inside,
            mm(137.0),
            &texts.last_day,
            &Value::new("valid_until", &fields.last_day, VALUE, 7.0),
        )?;
        let url = style(Face::Bold, 10.0, Ink::Text);
        self.row(
            inside,
            mm(145.0),
            &texts.service,
            &Value::new("redeem_url", &fields.url, url, 6.5),
        )?;
        let code_box = janitor_code_box();
        self.items.push(Item::Box {
            role: Role::Plain,
            rect: code_box,
            fill: Some(Ink::Tint),
            stroke: Some((Ink::Accent, 1.0)),
        });
        self.text(
            Role::Plain,
            LABEL,
            LEFT + mm(5.0),
            code_box.top + mm(8.0),
            &texts.code,
        );
        let code = Value {
            role: Role::Code,
            ..Value::new("code", &fields.code, CODE, 14.0)
        };
        self.value(
            &code,
            LEFT + mm(5.0),
            RIGHT - mm(5.0),
            janitor_code_baseline(),
        )?;
        self.fold(FOLDS[1], &texts.fold_forward)?;

        // Panel C, inside, folded over panel B: the band over the code, then the instructions.
        let mask = janitor_mask();
        self.items.push(Item::Box {
            role: Role::Mask,
            rect: mask,
            fill: Some(Ink::Mask),
            stroke: None,
        });
        let mut bottom =
            self.steps(fields, texts, mask.bottom + mm(4.0), (SMALL, SMALL_LEADING))?;
        bottom = self.warning(
            &texts.never_ask,
            bottom + mm(3.0),
            style(Face::Bold, 9.5, Ink::Accent),
            SMALL_LEADING,
        );
        bottom = self.paragraph(NOTE, 11.5, LEFT, bottom + mm(2.5), &texts.expired);
        bottom = self.paragraph(NOTE, 11.5, LEFT, bottom + mm(1.0), &texts.not_requested);
        self.fits_above("texts", bottom, PAGE_HEIGHT - mm(8.0))
    }
}

/// The code box of the janitor slip, at the foot of the middle panel.
fn janitor_code_box() -> Rect {
    Rect::from_mm(20.0, 162.0, 190.0, 194.0)
}

/// The baseline of the code in its box.
fn janitor_code_baseline() -> f32 {
    janitor_code_box().bottom - mm(9.0)
}

/// Where the code's characters can be: from the top of the largest type to below the baseline.
fn janitor_code_band() -> Rect {
    let baseline = janitor_code_baseline();
    Rect {
        top: baseline - CODE.size,
        bottom: baseline + CODE.size * 0.3,
        ..janitor_code_box()
    }
}

/// The mirror image of the code's band in the second fold, 4 mm larger on every side for a fold
/// made by hand: where the bottom panel lies over the code once folded.
fn janitor_mask() -> Rect {
    let band = janitor_code_band();
    let fold = FOLDS[1];
    let margin = mm(4.0);
    Rect {
        left: band.left - margin,
        right: band.right + margin,
        top: 2.0 * fold - band.bottom - margin,
        bottom: 2.0 * fold - band.top + margin,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The box `item` covers on the page, text by its advance, ascent and descent.
    pub(in super::super) fn extent(item: &Item, shaper: &Shaper<'_>) -> Rect {
        match item {
            Item::Text {
                style,
                x,
                baseline,
                text,
                ..
            } => Rect {
                left: *x,
                right: x + shaper.width(style.face, style.size, text),
                top: baseline - shaper.ascent(style.face, style.size),
                bottom: baseline + shaper.descent(style.face, style.size),
            },
            Item::Line {
                from, to, width, ..
            } => Rect {
                left: from.0.min(to.0) - width / 2.0,
                right: from.0.max(to.0) + width / 2.0,
                top: from.1.min(to.1) - width / 2.0,
                bottom: from.1.max(to.1) + width / 2.0,
            },
            Item::Box { rect, .. } => *rect,
        }
    }

    pub(in super::super) fn role(item: &Item) -> Role {
        match item {
            Item::Text { role, .. } | Item::Line { role, .. } | Item::Box { role, .. } => *role,
        }
    }

    #[test]
    fn the_window_is_that_of_finnish_c5_and_c65_window_envelopes() {
        let millimetres = |points: f32| (points / MM * 10.0).round() / 10.0;
        assert_eq!(millimetres(WINDOW.left), 18.0);
        assert_eq!(millimetres(WINDOW.top), 40.0);
        assert_eq!(millimetres(WINDOW.right - WINDOW.left), 95.0);
        assert_eq!(millimetres(WINDOW.bottom - WINDOW.top), 35.0);
        assert!(WINDOW.contains(&ADDRESS_AREA));
    }

    #[test]
    fn the_janitor_mask_is_the_code_band_mirrored_in_the_second_fold() {
        let code = janitor_code_band();
        let mask = janitor_mask();
        // Folding the bottom panel up maps y to 2 × fold − y: the mask covers the whole code box.
        let folded = Rect {
            top: 2.0 * FOLDS[1] - mask.bottom,
            bottom: 2.0 * FOLDS[1] - mask.top,
            ..mask
        };
        assert!(folded.contains(&code));
        assert!(mask.top > FOLDS[1] && mask.bottom < PAGE_HEIGHT);
        assert!(janitor_code_box().contains(&code));
        assert!(code.top > FOLDS[0] && code.bottom < FOLDS[1]);
    }

    #[test]
    fn rectangles_know_inside_from_overlapping() {
        let outer = Rect::from_mm(0.0, 0.0, 10.0, 10.0);
        assert!(outer.contains(&Rect::from_mm(1.0, 1.0, 9.0, 9.0)));
        assert!(!outer.contains(&Rect::from_mm(1.0, 1.0, 11.0, 9.0)));
        assert!(outer.intersects(&Rect::from_mm(9.0, 9.0, 12.0, 12.0)));
        assert!(!outer.intersects(&Rect::from_mm(10.0, 0.0, 12.0, 12.0)));
    }
}
