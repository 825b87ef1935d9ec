//! The three typefaces of the documents, read from the files the settings name, and the measuring
//! of text with the same shaper (rustybuzz) that krilla draws with, so a width computed here is the
//! width on paper.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::config::ConfigError;

use super::LetterError;

/// A font file larger than this is refused before it is read (the largest common CJK fonts are about
/// 20 MiB); a setting that names `/dev/zero` or a disk image must not exhaust the memory.
const MAX_FONT_BYTES: u64 = 64 * 1024 * 1024;

/// Which of the three typefaces a text is set in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Face {
    Regular,
    Bold,
    /// The code and the username: every character distinct (0/O, 1/l/I).
    Mono,
}

impl Face {
    fn index(self) -> usize {
        match self {
            Face::Regular => 0,
            Face::Bold => 1,
            Face::Mono => 2,
        }
    }
}

/// One font file, loaded.
struct Loaded {
    data: Arc<Vec<u8>>,
    font: krilla::text::Font,
    /// Ascent and descent as fractions of the size (descent positive, below the baseline).
    ascent: f32,
    descent: f32,
}

/// The regular, bold and monospaced fonts.
pub(super) struct Fonts {
    faces: [Loaded; 3],
}

impl Fonts {
    /// Reads and checks the three files; a problem names the setting's key.
    pub fn load(files: [(&'static str, &Path); 3]) -> Result<Fonts, ConfigError> {
        let [regular, bold, mono] = files.map(|(key, path)| load_one(key, path));
        Ok(Fonts {
            faces: [regular?, bold?, mono?],
        })
    }

    /// The font krilla embeds for `face`.
    pub fn krilla(&self, face: Face) -> krilla::text::Font {
        self.faces[face.index()].font.clone()
    }

    /// A shaper measuring text in these fonts.
    pub fn shaper(&self) -> Result<Shaper<'_>, LetterError> {
        let face = |index: usize| {
            let loaded: &Loaded = &self.faces[index];
            rustybuzz::Face::from_slice(loaded.data.as_slice(), 0)
                .map(|face| {
                    let units = (face.units_per_em() as f32).max(1.0);
                    (face, units, loaded.ascent, loaded.descent)
                })
                .ok_or_else(|| LetterError::Pdf("a font that was read no longer parses".into()))
        };
        Ok(Shaper {
            faces: [face(0)?, face(1)?, face(2)?],
        })
    }
}

fn load_one(key: &'static str, path: &Path) -> Result<Loaded, ConfigError> {
    let invalid = |problem: String| ConfigError::invalid(key, problem);
    let shown = path.display();
    let metadata = std::fs::metadata(path).map_err(|error| ConfigError::File {
        key,
        path: path.to_owned(),
        error,
    })?;
    if !metadata.is_file() {
        return Err(invalid(format!("{shown} is not a file")));
    }
    if metadata.len() > MAX_FONT_BYTES {
        return Err(invalid(format!(
            "{shown} is larger than {} MiB, too large for a font",
            MAX_FONT_BYTES / 1024 / 1024
        )));
    }
    let mut data = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_FONT_BYTES).read_to_end(&mut data))
        .map_err(|error| ConfigError::File {
            key,
            path: path.to_owned(),
            error,
        })?;
    let not_a_font = || {
        invalid(format!(
            "{shown} is not a TrueType or OpenType font (.ttf or .otf)"
        ))
    };
    let face = rustybuzz::Face::from_slice(&data, 0).ok_or_else(not_a_font)?;
    if face.glyph_index('A').is_none() || face.units_per_em() == 0 {
        return Err(not_a_font());
    }
    if !face.is_subsetting_allowed()
        || face.permissions() == Some(rustybuzz::ttf_parser::Permissions::Restricted)
    {
        return Err(invalid(format!(
            "the licence of {shown} forbids embedding it in a document (its fsType flags): \
             choose another font, e.g. DejaVu Sans"
        )));
    }
    let units = face.units_per_em() as f32;
    let ascent = f32::from(face.ascender()) / units;
    let descent = -f32::from(face.descender()) / units;
    let data = Arc::new(data);
    let font = krilla::text::Font::new(data.clone().into(), 0).ok_or_else(not_a_font)?;
    Ok(Loaded {
        data,
        font,
        ascent,
        descent: descent.max(0.0),
    })
}

/// Measures text in the loaded fonts, in points.
pub(super) struct Shaper<'a> {
    /// The shaping face, its units per em, ascent and descent (fractions of the size).
    faces: [(rustybuzz::Face<'a>, f32, f32, f32); 3],
}

impl Shaper<'_> {
    /// The advance width of `text` set in `face` at `size` points, as krilla will draw it.
    pub fn width(&self, face: Face, size: f32, text: &str) -> f32 {
        let (shaping, units, _, _) = &self.faces[face.index()];
        let mut buffer = rustybuzz::UnicodeBuffer::new();
        buffer.push_str(text);
        buffer.guess_segment_properties();
        let shaped = rustybuzz::shape(shaping, &[], buffer);
        let advance: i64 = shaped
            .glyph_positions()
            .iter()
            .map(|position| i64::from(position.x_advance))
            .sum();
        advance as f32 / units * size
    }

    /// How far the font reaches above the baseline at `size`.
    pub fn ascent(&self, face: Face, size: f32) -> f32 {
        self.faces[face.index()].2 * size
    }

    /// How far the font reaches below the baseline at `size`.
    pub fn descent(&self, face: Face, size: f32) -> f32 {
        self.faces[face.index()].3 * size
    }

    /// The first character of `text` that `face` has no glyph for.
    pub fn lacks(&self, face: Face, text: &str) -> Option<char> {
        let (shaping, _, _, _) = &self.faces[face.index()];
        text.chars().find(|&c| shaping.glyph_index(c).is_none())
    }
}
