//! The printed activation-code documents, read back with poppler (Debian's `poppler-utils`): the
//! text is real, searchable text with its Nordic letters, the fonts are embedded subsets, and the
//! letter's address block lies in the window of a Finnish C5/C65 window envelope. Each page is also
//! rendered to `target/screenshots/letter-*.png` for a person to look at.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use time::macros::date;
use tunnus::helpdesk::letter::{Delivery, Document, LetterSettings, Printer};
use tunnus::i18n::Lang;
use url::Url;

const POINTS_PER_MM: f64 = 72.0 / 25.4;

/// The address window of C5 and C65 window envelopes (SFS 2488): 18 mm from the left edge, 40 mm
/// from the top, 95 mm wide and 35 mm high — stated here on its own, not taken from the code.
fn envelope_window() -> Area {
    Area::from_mm(18.0, 40.0, 95.0, 35.0)
}

/// A rectangle in points from the page's top-left corner, as `pdftotext -bbox` gives them.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Area {
    left: f64,
    top: f64,
    right: f64,
    bottom: f64,
}

impl Area {
    fn from_mm(left: f64, top: f64, width: f64, height: f64) -> Area {
        Area {
            left: left * POINTS_PER_MM,
            top: top * POINTS_PER_MM,
            right: (left + width) * POINTS_PER_MM,
            bottom: (top + height) * POINTS_PER_MM,
        }
    }

    fn contains(&self, other: &Area) -> bool {
        other.left >= self.left
            && other.right <= self.right
            && other.top >= self.top
            && other.bottom <= self.bottom
    }

    fn intersects(&self, other: &Area) -> bool {
        other.left < self.right
            && other.right > self.left
            && other.top < self.bottom
            && other.bottom > self.top
    }

    fn moved_mm(self, right: f64, down: f64) -> Area {
        Area {
            left: self.left + right * POINTS_PER_MM,
            right: self.right + right * POINTS_PER_MM,
            top: self.top + down * POINTS_PER_MM,
            bottom: self.bottom + down * POINTS_PER_MM,
        }
    }
}

/// One line of text as poppler found it on the page, with its words.
#[derive(Debug)]
struct Line {
    area: Area,
    words: Vec<(String, Area)>,
}

impl Line {
    fn text(&self) -> String {
        let words: Vec<&str> = self.words.iter().map(|(word, _)| word.as_str()).collect();
        words.join(" ")
    }
}

fn settings() -> LetterSettings {
    LetterSettings {
        organisation: BTreeMap::from([
            ("fi".to_owned(), "Esimerkin yliopisto".to_owned()),
            ("sv".to_owned(), "Exempeluniversitetet".to_owned()),
            ("en".to_owned(), "University of Example".to_owned()),
        ]),
        sender: vec![
            "Esimerkin yliopisto, IT-palvelut".to_owned(),
            "PL 1, 00014 Esimerkin yliopisto".to_owned(),
        ],
        contact: vec!["IT-palvelut · it-tuki@example.fi · 029 123 4567".to_owned()],
        ..LetterSettings::default()
    }
}

const CODE: &str = "7KQM-2XRD-9TPA-F4WN";

fn document(delivery: Delivery, lang: Lang, full_name: &str) -> Document {
    Document {
        delivery,
        lang,
        full_name: full_name.to_owned(),
        username: "tetyra".to_owned(),
        code: "7KQM2XRD9TPAF4WN".to_owned(),
        redeem_url: Url::parse("https://tunnus.example.fi/code").unwrap(),
        valid_until: date!(2025 - 12 - 31),
        issued_on: date!(2025 - 12 - 10),
    }
}

/// Runs a poppler tool; its absence fails the test with what to install.
pub fn poppler(tool: &str, args: &[&str]) -> Output {
    let output = match Command::new(tool).args(args).output() {
        Ok(output) => output,
        Err(error) if error.kind() == ErrorKind::NotFound => panic!(
            "`{tool}` is missing: install the Debian package poppler-utils \
             (scripts/test installs it)"
        ),
        Err(error) => panic!("cannot run {tool}: {error}"),
    };
    assert!(
        output.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Writes the PDF of `document` to a file of its own and renders its pages to
/// `target/screenshots/letter-{name}-N.png`.
fn print(document: &Document, name: &str) -> PathBuf {
    let printer = Printer::load(&settings()).expect("fonts-dejavu-core is installed");
    let pdf = printer.render(document).unwrap();
    // Under the build's own temp folder (target/tmp), where a person can open it after a run.
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("letter-{name}.pdf"));
    std::fs::write(&path, pdf).unwrap();
    let screenshots = screenshot_dir();
    std::fs::create_dir_all(&screenshots).unwrap();
    let prefix = screenshots.join(format!("letter-{name}"));
    poppler(
        "pdftoppm",
        &["-png", "-r", "72", path_str(&path), path_str(&prefix)],
    );
    path
}

/// `target/screenshots`, beside the test binary's own `target/debug/deps`.
fn screenshot_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("screenshots")
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

/// The text of the PDF as `pdftotext` extracts it.
pub fn text(pdf: &Path) -> String {
    let output = poppler("pdftotext", &["-enc", "UTF-8", path_str(pdf), "-"]);
    String::from_utf8(output.stdout).expect("pdftotext writes UTF-8")
}

/// The lines and words of the PDF's pages with their boxes (`pdftotext -bbox-layout`).
fn lines(pdf: &Path) -> Vec<Line> {
    let output = poppler(
        "pdftotext",
        &["-bbox-layout", "-enc", "UTF-8", path_str(pdf), "-"],
    );
    let xhtml = String::from_utf8(output.stdout).expect("pdftotext writes UTF-8");
    let mut lines = Vec::new();
    for chunk in xhtml.split("<line ").skip(1) {
        let chunk = chunk.split("</line>").next().unwrap_or_default();
        let words = chunk
            .split("<word ")
            .skip(1)
            .map(|word| {
                let (attributes, rest) = word.split_once('>').unwrap();
                let text = rest.split("</word>").next().unwrap_or_default();
                (unescape(text), area(attributes))
            })
            .collect();
        lines.push(Line {
            area: area(chunk.split_once('>').unwrap().0),
            words,
        });
    }
    lines
}

fn area(attributes: &str) -> Area {
    let number = |name: &str| -> f64 {
        let start = attributes
            .find(&format!("{name}=\""))
            .unwrap_or_else(|| panic!("no {name} in {attributes}"))
            + name.len()
            + 2;
        let end = attributes[start..].find('"').unwrap() + start;
        attributes[start..end].parse().unwrap()
    };
    Area {
        left: number("xMin"),
        top: number("yMin"),
        right: number("xMax"),
        bottom: number("yMax"),
    }
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Ok when each of `expected` is a line of the page lying wholly inside `window`.
fn inside(lines: &[Line], expected: &[&str], window: Area) -> Result<(), String> {
    for wanted in expected {
        let line = lines
            .iter()
            .find(|line| line.text() == *wanted)
            .ok_or_else(|| format!("no line “{wanted}” on the page"))?;
        if !window.contains(&line.area) {
            return Err(format!(
                "“{wanted}” at {:?} is not inside the window {window:?}",
                line.area
            ));
        }
    }
    Ok(())
}

/// Fails unless each of `expected` is a line of `pdf` inside the envelope window.
pub(crate) fn assert_in_window(pdf: &Path, expected: &[&str]) {
    if let Err(problem) = inside(&lines(pdf), expected, envelope_window()) {
        panic!("{problem}");
    }
}

/// The box of the word `word`, which must occur exactly once.
fn word_area(lines: &[Line], word: &str) -> Area {
    let found: Vec<Area> = lines
        .iter()
        .flat_map(|line| &line.words)
        .filter(|(text, _)| text == word)
        .map(|(_, area)| *area)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "“{word}” is on the page {} times",
        found.len()
    );
    found[0]
}

/// One page, whose fonts are all embedded subsets.
fn one_page_of_embedded_subset_fonts(pdf: &Path) {
    let info = String::from_utf8(poppler("pdfinfo", &[path_str(pdf)]).stdout).unwrap();
    assert!(
        info.lines()
            .any(|line| line.starts_with("Pages:") && line.ends_with(" 1")),
        "{info}"
    );
    let fonts = String::from_utf8(poppler("pdffonts", &[path_str(pdf)]).stdout).unwrap();
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert_eq!(rows.len(), 3, "regular, bold and monospaced: {fonts}");
    for row in rows {
        let columns: Vec<&str> = row.split_whitespace().collect();
        // name type encoding emb sub uni object ID: embedded, subset, with a Unicode map.
        let flags = &columns[columns.len() - 5..columns.len() - 2];
        assert_eq!(flags, ["yes", "yes", "yes"], "{row}");
        assert!(
            columns[0].contains('+'),
            "a subset font's name has a tag: {row}"
        );
    }
}

#[test]
fn the_printout_for_a_service_point_reads_back_with_its_code_name_date_and_address() {
    let pdf = print(
        &document(Delivery::InPerson, Lang::Fi, "Tero Testi Äyrämö"),
        "in-person-fi",
    );
    one_page_of_embedded_subset_fonts(&pdf);
    let text = text(&pdf);
    for wanted in [
        CODE,
        "Tero Testi Äyrämö",
        "31.12.2025",
        "https://tunnus.example.fi/code",
        "tetyra",
        "Käyttäjätunnus",
        "Viimeinen voimassaolopäivä",
        "Esimerkin yliopisto",
        "ei koskaan kysy salasanaasi",
        "it-tuki@example.fi",
    ] {
        assert!(text.contains(wanted), "no “{wanted}” in:\n{text}");
    }
}

#[test]
fn the_janitor_slip_shows_the_name_outside_and_hides_the_code_inside() {
    let delivery = Delivery::Janitor {
        campus: "Vasa campus".to_owned(),
        pick_up_point: "Vaktmästeriet, Strandgatan 2".to_owned(),
    };
    let pdf = print(&document(delivery, Lang::Sv, "Åsa Lindqvist"), "janitor-sv");
    one_page_of_embedded_subset_fonts(&pdf);
    let text = text(&pdf);
    for wanted in [
        CODE,
        "Åsa Lindqvist",
        "31.12.2025",
        "https://tunnus.example.fi/code",
        "PERSONLIGT",
        "Avhämtningsställe",
        "Vaktmästeriet, Strandgatan 2",
        "frågar aldrig efter ditt lösenord",
        "Överlämnas endast till mottagaren",
    ] {
        assert!(text.contains(wanted), "no “{wanted}” in:\n{text}");
    }
    // No address block: nothing of a postal address, and nothing in an envelope window's place
    // but the outside panel's own lines.
    assert!(!text.contains("PL 1, 00014"), "{text}");
    let lines = lines(&pdf);
    let first_fold = 99.0 * POINTS_PER_MM;
    let second_fold = 198.0 * POINTS_PER_MM;
    let name = lines
        .iter()
        .find(|line| line.text().contains("Åsa Lindqvist"))
        .expect("the name is on the slip");
    assert!(
        name.area.bottom < first_fold,
        "the name is on the outside panel: {name:?}"
    );
    let code = word_area(&lines, CODE);
    assert!(
        code.top > first_fold && code.bottom < second_fold,
        "the code is on the middle panel: {code:?}"
    );
    let username = word_area(&lines, "tetyra");
    assert!(
        username.top > first_fold,
        "the username is inside: {username:?}"
    );
}

#[test]
fn the_letters_address_block_lies_in_the_envelope_window() {
    let address = ["c/o Lindqvist", "Kauppakatu 5 B 12", "90100 OULU"];
    for (lang, name) in [(Lang::Fi, "Tero Testi Äyrämö"), (Lang::En, "Åsa Lindqvist")] {
        let delivery = Delivery::RegisteredLetter {
            address: address.iter().map(|line| (*line).to_owned()).collect(),
        };
        let pdf = print(
            &document(delivery, lang, name),
            &format!("registered-{}", lang.code()),
        );
        one_page_of_embedded_subset_fonts(&pdf);
        let text = text(&pdf);
        let last_day = if lang == Lang::Fi {
            "31.12.2025"
        } else {
            "31 December 2025"
        };
        for wanted in [
            CODE,
            name,
            last_day,
            "https://tunnus.example.fi/code",
            "90100 OULU",
        ] {
            assert!(text.contains(wanted), "no “{wanted}” in:\n{text}");
        }
        let lines = lines(&pdf);
        let window = envelope_window();
        let block = [
            "Esimerkin yliopisto, IT-palvelut, PL 1, 00014 Esimerkin yliopisto",
            name,
            address[0],
            address[1],
            address[2],
        ];
        inside(&lines, &block, window).unwrap();
        // Nothing else shows through the window, and the code is inside the folded sheet.
        for line in &lines {
            if window.intersects(&line.area) {
                assert!(
                    block.contains(&line.text().as_str()),
                    "{line:?} shows in the window"
                );
            }
        }
        let code = word_area(&lines, CODE);
        assert!(!window.intersects(&code), "{code:?}");
        assert!(
            code.top > 99.0 * POINTS_PER_MM,
            "the code is below the first fold: {code:?}"
        );
    }
}

#[test]
fn the_window_check_fails_for_an_address_block_outside_the_window() {
    let delivery = Delivery::RegisteredLetter {
        address: vec!["Kauppakatu 5 B 12".to_owned(), "90100 OULU".to_owned()],
    };
    let pdf = print(
        &document(delivery, Lang::Fi, "Tero Testi Äyrämö"),
        "registered-check",
    );
    let lines = lines(&pdf);
    let block = ["Tero Testi Äyrämö", "Kauppakatu 5 B 12", "90100 OULU"];
    inside(&lines, &block, envelope_window()).unwrap();
    // The same block measured against a window 30 mm lower, 10 mm further right or too
    // narrower does not fit: the check sees where the words are.
    for other in [
        envelope_window().moved_mm(0.0, 30.0),
        envelope_window().moved_mm(10.0, 0.0),
        Area::from_mm(18.0, 40.0, 25.0, 35.0),
    ] {
        let error = inside(&lines, &block, other).unwrap_err();
        assert!(error.contains("not inside the window"), "{error}");
    }
    assert!(inside(&lines, &["Someone Else"], envelope_window()).is_err());
}
