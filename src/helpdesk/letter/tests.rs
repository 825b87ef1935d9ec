//! Settings, value checks and layout rules of the printed documents. The rendered PDFs are read back
//! with poppler in `tests/it/letters.rs`.

use std::path::Path;

use time::macros::date;

use super::layout::tests::{extent, role};
use super::layout::{self, ADDRESS_AREA, FOLDS, Item, Rect, Role, WINDOW};
use super::*;

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
        contact: vec![
            "IT-palvelut · it-tuki@example.fi · 029 123 4567".to_owned(),
            "Palvelupisteet: ark. 9–16".to_owned(),
        ],
        ..LetterSettings::default()
    }
}

fn printer() -> Printer {
    Printer::load(&settings()).expect("the DejaVu fonts of fonts-dejavu-core are installed")
}

fn document(delivery: Delivery, lang: Lang) -> Document {
    Document {
        delivery,
        lang,
        full_name: "Tero Testi Äyrämö".to_owned(),
        username: "tetyra".to_owned(),
        code: "7KQM2XRD9TPAF4WN".to_owned(),
        redeem_url: Url::parse("https://tunnus.example.fi/code").unwrap(),
        valid_until: date!(2025 - 12 - 31),
        issued_on: date!(2025 - 12 - 10),
    }
}

fn letter(lines: &[&str]) -> Delivery {
    Delivery::RegisteredLetter {
        address: lines.iter().map(|line| (*line).to_owned()).collect(),
    }
}

fn janitor() -> Delivery {
    Delivery::Janitor {
        campus: "Linnanmaa".to_owned(),
        pick_up_point: "Pääaulan vahtimestari, huone A101".to_owned(),
    }
}

fn every_delivery() -> Vec<Delivery> {
    vec![
        Delivery::InPerson,
        janitor(),
        letter(&["Kauppakatu 5 B 12", "90100 OULU"]),
    ]
}

/// The composed page of `document`.
fn compose(printer: &Printer, document: &Document) -> Result<Vec<Item>, LetterError> {
    let fields = printer.fields(document)?;
    let sender = Some(printer.settings.sender.join(", "));
    let brand = Brand {
        organisation: printer.settings.organisation(document.lang),
        sender,
        contact: &printer.settings.contact,
    };
    let shaper = printer.fonts.shaper()?;
    layout::compose(&fields, printer.catalog.get(document.lang), &brand, &shaper)
}

/// Each item of `items` with its extent.
fn extents(printer: &Printer, items: &[Item]) -> Vec<(Item, Rect)> {
    let shaper = printer.fonts.shaper().unwrap();
    items
        .iter()
        .map(|item| (item.clone(), extent(item, &shaper)))
        .collect()
}

fn text_of(item: &Item) -> Option<&str> {
    match item {
        Item::Text { text, .. } => Some(text),
        _ => None,
    }
}

fn problem_field(result: Result<Vec<u8>, LetterError>) -> String {
    match result {
        Err(LetterError::Field { field, .. }) => field,
        other => panic!(
            "expected a refused value, got {:?}",
            other.map(|pdf| pdf.len())
        ),
    }
}

fn config_key(result: Result<Printer, ConfigError>) -> &'static str {
    match result {
        Err(ConfigError::Invalid { key, .. } | ConfigError::File { key, .. }) => key,
        other => panic!("expected a settings error, got {other:?}"),
    }
}

#[test]
fn the_default_settings_print_with_debian_dejavu_fonts() {
    LetterSettings::default().validate().unwrap();
    settings().validate().unwrap();
}

#[test]
fn an_unreadable_or_non_font_file_is_refused_naming_its_key() {
    let missing = LetterSettings {
        font: "/nonexistent/font.ttf".into(),
        ..settings()
    };
    assert_eq!(config_key(Printer::load(&missing)), KEY_FONT);
    let not_a_font = LetterSettings {
        bold_font: Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"),
        ..settings()
    };
    let error = Printer::load(&not_a_font).unwrap_err().to_string();
    assert!(
        error.contains(KEY_BOLD_FONT) && error.contains("not a TrueType"),
        "{error}"
    );
    for path in ["/usr", "/dev/null", "/dev/zero"] {
        let odd = LetterSettings {
            mono_font: path.into(),
            ..settings()
        };
        assert_eq!(config_key(Printer::load(&odd)), KEY_MONO_FONT, "{path}");
    }
}

#[test]
fn unknown_keys_are_refused() {
    let error = toml::from_str::<LetterSettings>("fonts = \"/x.ttf\"").unwrap_err();
    assert!(error.to_string().contains("fonts"), "{error}");
    let read: LetterSettings =
        toml::from_str("sender = [\"Esimerkin yliopisto\"]\norganisation = { sv = \"Exempel\" }")
            .unwrap();
    assert_eq!(read.font, LetterSettings::default().font);
    assert_eq!(read.organisation(Lang::Fi), Some("Exempel"));
}

#[test]
fn lines_of_the_settings_must_be_printable() {
    let cases = [
        (
            KEY_ORGANISATION,
            LetterSettings {
                organisation: BTreeMap::from([("de".to_owned(), "Beispiel".to_owned())]),
                ..settings()
            },
        ),
        (
            KEY_ORGANISATION,
            LetterSettings {
                organisation: BTreeMap::from([("fi".to_owned(), "東京大学".to_owned())]),
                ..settings()
            },
        ),
        (
            KEY_SENDER,
            LetterSettings {
                sender: vec!["  ".to_owned()],
                ..settings()
            },
        ),
        (
            KEY_CONTACT,
            LetterSettings {
                contact: vec!["x".to_owned(); 5],
                ..settings()
            },
        ),
        (
            KEY_CONTACT,
            LetterSettings {
                contact: vec!["tab\there".to_owned()],
                ..settings()
            },
        ),
        (
            KEY_COLOUR,
            LetterSettings {
                colour: "#ffff66".to_owned(),
                ..settings()
            },
        ),
        (
            KEY_COLOUR,
            LetterSettings {
                colour: "navy".to_owned(),
                ..settings()
            },
        ),
    ];
    for (key, settings) in cases {
        assert_eq!(config_key(Printer::load(&settings)), key);
    }
}

#[test]
fn codes_are_printed_in_groups_of_four() {
    assert_eq!(
        format_code("7KQM2XRD9TPAF4WN").unwrap(),
        "7KQM-2XRD-9TPA-F4WN"
    );
    assert_eq!(format_code("7kqm-2xrd 9tpa").unwrap(), "7kqm-2xrd-9tpa");
    assert_eq!(format_code("ABCDEFGHJ").unwrap(), "ABCD-EFGH-J");
    for bad in ["SHORT12", "7KQM_2XRD_9TPA", "ÄKQM2XRD9TPA", &"A".repeat(33)] {
        assert!(format_code(bad).is_err(), "{bad}");
    }
}

#[test]
fn debug_never_shows_the_code() {
    let shown = format!("{:?}", document(Delivery::InPerson, Lang::Fi));
    assert!(!shown.contains("7KQM"), "{shown}");
    assert!(shown.contains("tetyra"));
}

#[test]
fn unprintable_values_are_refused_naming_them() {
    let printer = printer();
    let with = |change: &dyn Fn(&mut Document)| {
        let mut document = document(Delivery::InPerson, Lang::Fi);
        change(&mut document);
        printer.render(&document)
    };
    assert_eq!(
        problem_field(with(&|d| d.full_name = " ".into())),
        "full_name"
    );
    assert_eq!(
        problem_field(with(&|d| d.full_name = "Tero\nÄyrämö".into())),
        "full_name"
    );
    assert_eq!(
        problem_field(with(&|d| d.full_name = "Te\u{202E}ro".into())),
        "full_name"
    );
    assert_eq!(
        problem_field(with(&|d| d.full_name = "Tero ".repeat(50))),
        "full_name"
    );
    assert_eq!(
        problem_field(with(&|d| d.full_name = "M".repeat(150))),
        "full_name"
    );
    assert_eq!(
        problem_field(with(&|d| d.username = "山田".into())),
        "username"
    );
    assert_eq!(problem_field(with(&|d| d.code = "7KQM".into())), "code");
    assert_eq!(
        problem_field(with(&|d| d.valid_until = date!(2025 - 12 - 09))),
        "valid_until"
    );
    let long_url = format!("https://tunnus.example.fi/{}", "x".repeat(170));
    assert_eq!(
        problem_field(with(&|d| d.redeem_url = Url::parse(&long_url).unwrap())),
        "redeem_url"
    );
    let right_to_left = with(&|d| d.full_name = "שרה לוי".into()).unwrap_err();
    assert!(
        right_to_left.to_string().contains("right to left"),
        "{right_to_left}"
    );
    let chinese = with(&|d| d.full_name = "王小明".into()).unwrap_err();
    assert!(chinese.to_string().contains("cannot print"), "{chinese}");
}

#[test]
fn names_in_other_scripts_the_font_has_are_printed() {
    let printer = printer();
    for name in [
        "Анна Петрова",
        "Ελένη Παπαδοπούλου",
        "Đặng Thị Ngọc",
        "Åsa Lindqvist-Öhman",
    ] {
        for delivery in every_delivery() {
            let mut document = document(delivery, Lang::En);
            document.full_name = name.to_owned();
            let pdf = printer.render(&document).unwrap();
            assert!(pdf.starts_with(b"%PDF-"), "{name}");
        }
    }
}

#[test]
fn long_values_shrink_to_fit_their_line() {
    let printer = printer();
    let long_name = "Maria-Kristiina Aurora Hämäläinen-Väänänen-Söderström af Ekenäs";
    let window_name = "Maria-Kristiina Hämäläinen-Väänänen-Söderström";
    for (delivery, name) in [
        (Delivery::InPerson, long_name),
        (janitor(), long_name),
        (letter(&["Kauppakatu 5", "90100 OULU"]), window_name),
    ] {
        let mut document = document(delivery, Lang::Sv);
        document.full_name = name.to_owned();
        let items = compose(&printer, &document).unwrap();
        let sizes: Vec<f32> = items
            .iter()
            .filter_map(|item| match item {
                Item::Text { style, text, .. } if text == name => Some(style.size),
                _ => None,
            })
            .collect();
        assert!(!sizes.is_empty());
        assert!(sizes.iter().all(|size| *size >= 7.0), "{sizes:?}");
    }
    // In the envelope window the type stays at 8 points at least: a longer name is refused.
    let mut document = document(letter(&["Kauppakatu 5", "90100 OULU"]), Lang::Sv);
    document.full_name = long_name.to_owned();
    let error = printer.render(&document).unwrap_err();
    assert!(error.to_string().contains("envelope window"), "{error}");
}

#[test]
fn blank_address_lines_are_left_out_and_an_empty_address_is_refused() {
    let printer = printer();
    let document_with = |lines: &[&str]| document(letter(lines), Lang::Fi);
    let items = compose(
        &printer,
        &document_with(&["", "Kauppakatu 5", "  ", "90100 OULU"]),
    )
    .unwrap();
    let address: Vec<&str> = items
        .iter()
        .filter(|item| role(item) == Role::Address)
        .filter_map(text_of)
        .collect();
    assert_eq!(address, ["Tero Testi Äyrämö", "Kauppakatu 5", "90100 OULU"]);
    assert_eq!(
        problem_field(printer.render(&document_with(&[" ", ""]))),
        "address"
    );
    let too_many = [
        "c/o Virtanen",
        "Rivi 2",
        "Rivi 3",
        "Rivi 4",
        "Rivi 5",
        "Rivi 6",
        "00100 HELSINKI",
    ];
    assert_eq!(
        problem_field(printer.render(&document_with(&too_many))),
        "address"
    );
    let wide = ["Kauppakatu 5", &"Pitkäkatu ".repeat(12)];
    assert_eq!(
        problem_field(printer.render(&document_with(&wide))),
        "address line 2"
    );
}

#[test]
fn a_registered_letter_needs_the_senders_address() {
    let printer = Printer::load(&LetterSettings {
        sender: Vec::new(),
        ..settings()
    })
    .unwrap();
    match printer.render(&document(letter(&["Kauppakatu 5", "90100 OULU"]), Lang::Fi)) {
        Err(LetterError::Settings(ConfigError::Invalid { key, .. })) => assert_eq!(key, KEY_SENDER),
        other => panic!("{:?}", other.map(|pdf| pdf.len())),
    }
    printer
        .render(&document(Delivery::InPerson, Lang::Fi))
        .unwrap();
}

#[test]
fn the_address_block_lies_inside_the_envelope_window_in_every_language() {
    let printer = printer();
    let addresses: [&[&str]; 4] = [
        &["90100 OULU"],
        &["Kauppakatu 5 B 12", "90100 OULU"],
        &["c/o Lindqvist", "Storgatan 12 A 3", "65100 VASA"],
        &[
            "c/o Åsa Lindqvist",
            "Hämeentie 155 A 12",
            "PL 1000",
            "00560 HELSINKI",
            "FINLAND",
        ],
    ];
    for lang in Lang::ALL {
        for address in addresses {
            let items = compose(&printer, &document(letter(address), lang)).unwrap();
            let placed = extents(&printer, &items);
            let block: Vec<&Rect> = placed
                .iter()
                .filter(|(item, _)| matches!(role(item), Role::Address | Role::Sender))
                .map(|(_, rect)| rect)
                .collect();
            assert_eq!(
                block.len(),
                // The sender's line and its underline, the name, the address lines.
                2 + 1 + address.len(),
                "{address:?}"
            );
            for rect in block {
                assert!(
                    ADDRESS_AREA.contains(rect),
                    "{rect:?} is outside the window"
                );
                assert!(WINDOW.contains(rect));
            }
            // Nothing else shows through the window.
            for (item, rect) in &placed {
                if !matches!(role(item), Role::Address | Role::Sender) {
                    assert!(!WINDOW.intersects(rect), "{item:?} shows in the window");
                }
            }
        }
    }
}

#[test]
fn the_code_of_a_letter_is_inside_the_folded_sheet() {
    let printer = printer();
    for lang in Lang::ALL {
        let items = compose(
            &printer,
            &document(letter(&["Kauppakatu 5", "90100 OULU"]), lang),
        )
        .unwrap();
        let codes: Vec<Rect> = extents(&printer, &items)
            .into_iter()
            .filter(|(item, _)| role(item) == Role::Code)
            .map(|(_, rect)| rect)
            .collect();
        assert_eq!(codes.len(), 1);
        // Below the first fold of a letter in three: the inside of a C65, and far from the window.
        assert!(codes[0].top > FOLDS[0], "{:?}", codes[0]);
        assert!(!WINDOW.intersects(&codes[0]));
    }
}

#[test]
fn every_document_stays_on_the_printable_page_in_every_language() {
    let printer = printer();
    let printable = Rect::from_mm(4.0, 5.0, 206.0, 292.0);
    for lang in Lang::ALL {
        for delivery in every_delivery() {
            let items = compose(&printer, &document(delivery.clone(), lang)).unwrap();
            for (item, rect) in extents(&printer, &items) {
                assert!(
                    printable.contains(&rect),
                    "{lang:?} {delivery:?}: {item:?} at {rect:?}"
                );
            }
        }
    }
}

#[test]
fn the_janitor_slip_shows_only_whom_and_where_on_the_outside() {
    let printer = printer();
    for lang in Lang::ALL {
        let items = compose(&printer, &document(janitor(), lang)).unwrap();
        let placed = extents(&printer, &items);
        let panel = |rect: &Rect| -> usize {
            if rect.bottom <= FOLDS[0] {
                0
            } else if rect.top >= FOLDS[0] && rect.bottom <= FOLDS[1] {
                1
            } else if rect.top >= FOLDS[1] {
                2
            } else {
                usize::MAX
            }
        };
        let texts_on = |wanted: usize| -> Vec<&str> {
            placed
                .iter()
                .filter(|(item, rect)| panel(rect) == wanted && text_of(item).is_some())
                .filter_map(|(item, _)| text_of(item))
                .collect()
        };
        for (item, rect) in &placed {
            if role(item) != Role::Fold {
                assert_ne!(panel(rect), usize::MAX, "{item:?} lies across a fold");
            }
        }
        let outside = texts_on(0);
        assert!(outside.contains(&"Tero Testi Äyrämö"), "{outside:?}");
        assert!(outside.contains(&"Linnanmaa"));
        assert!(outside.contains(&"Pääaulan vahtimestari, huone A101"));
        assert!(
            !outside
                .iter()
                .any(|text| text.contains("7KQM") || text.contains("tetyra"))
        );
        assert!(texts_on(1).contains(&"7KQM-2XRD-9TPA-F4WN"));
        assert!(texts_on(1).contains(&"tetyra"));

        // Folded up over the middle panel, the band lies over the code.
        let mask = placed
            .iter()
            .find(|(item, _)| role(item) == Role::Mask)
            .unwrap()
            .1;
        let folded = Rect {
            top: 2.0 * FOLDS[1] - mask.bottom,
            bottom: 2.0 * FOLDS[1] - mask.top,
            ..mask
        };
        let code = placed
            .iter()
            .find(|(item, _)| role(item) == Role::Code)
            .unwrap()
            .1;
        assert!(folded.contains(&code), "{folded:?} does not cover {code:?}");
        for (item, rect) in &placed {
            if panel(rect) == 2 && role(item) != Role::Mask {
                assert!(!mask.intersects(rect), "{item:?} is printed over the band");
            }
        }
    }
}

#[test]
fn documents_are_pdf_a_and_the_same_for_the_same_values() {
    let printer = printer();
    let document = document(Delivery::InPerson, Lang::Fi);
    let pdf = printer.render(&document).unwrap();
    assert!(pdf.starts_with(b"%PDF-1.7"));
    let marker = b"pdfaid:part";
    assert!(
        pdf.windows(marker.len()).any(|window| window == marker),
        "no PDF/A identification"
    );
    assert_eq!(printer.render(&document).unwrap(), pdf);
    assert_eq!(render(&document, &settings()).unwrap(), pdf);
}

#[test]
fn no_value_of_any_kind_makes_rendering_panic() {
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    // Mostly values like real ones, short and long; then any characters at all.
    let text = || {
        prop_oneof![
            4 => "[A-Za-zÅÄÖåäöØ0-9][A-Za-zÅÄÖåäöØ0-9' .,/-]{0,40}",
            1 => "[A-Za-zÅÄÖåäöØ' .-]{0,230}",
            1 => ".{0,40}",
            1 => vec(any::<char>(), 0..30).prop_map(|chars| chars.into_iter().collect::<String>()),
        ]
    };
    let printer = printer();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let code = prop_oneof![4 => "[A-Z0-9]{16}", 1 => text()];
    let values = (text(), text(), text(), vec(text(), 0..9), code, 0..3usize);
    let printed = std::cell::Cell::new(0);
    runner
        .run(&values, |(name, username, place, lines, code, kind)| {
            let delivery = match kind {
                0 => Delivery::InPerson,
                1 => Delivery::Janitor {
                    campus: place.clone(),
                    pick_up_point: place,
                },
                _ => Delivery::RegisteredLetter { address: lines },
            };
            let mut document = document(delivery, Lang::Sv);
            document.full_name = name;
            document.username = username;
            document.code = code;
            if let Ok(pdf) = printer.render(&document) {
                prop_assert!(pdf.starts_with(b"%PDF-"));
                printed.set(printed.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    // Both ways were taken: some documents printed, the others refused.
    assert!(printed.get() > 0);
}

#[test]
fn a_settings_error_shows_its_cause_once_and_has_no_source() {
    use std::error::Error;

    let error = LetterError::from(ConfigError::File {
        key: KEY_FONT,
        path: "/fonts/x.ttf".into(),
        error: std::io::Error::other("the disk is on fire"),
    });
    assert!(error.source().is_none());
    let printed = format!("{:#}", anyhow::Error::from(error));
    assert_eq!(
        printed.matches("the disk is on fire").count(),
        1,
        "{printed}"
    );
    assert!(printed.contains(KEY_FONT), "{printed}");
}
