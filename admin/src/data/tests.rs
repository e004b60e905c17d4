//! Tests for the data syntax: reference §2.3 examples, round trips, and
//! malformed input that must fail without panicking.

use super::*;

fn dt(d: u32, m: u32, y: i32, hh: u32, mm: u32, ss: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|x| x.and_hms_opt(hh, mm, ss))
        .expect("valid test date")
}

fn dict(pairs: &[(&str, Value)]) -> Value {
    Value::Dict(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

fn s(x: &str) -> Value {
    Value::string(x)
}

/// (text as written in the reference or by CLI.pm, value, canonical print).
fn samples() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        ("MyName", s("MyName"), "MyName"),
        ("My2ndName", s("My2ndName"), "My2ndName"),
        (
            r#""My Name with spaces and the . symbol""#,
            s("My Name with spaces and the . symbol"),
            r#""My Name with spaces and the . symbol""#,
        ),
        (
            r#""a \"string\" within string""#,
            s("a \"string\" within string"),
            r#""a \"string\" within string""#,
        ),
        (
            r#""Single \\ backslash""#,
            s("Single \\ backslash"),
            r#""Single \\ backslash""#,
        ),
        (r#""\012""#, s("\u{c}"), r#""\012""#),
        (
            r#""Line1\eLine2""#,
            s("Line1\nLine2"),
            r#""Line1\010Line2""#,
        ),
        (
            r#""TEXT3\rTEXT67\nTEXT78""#,
            s("TEXT3\rTEXT67\nTEXT78"),
            r#""TEXT3\013TEXT67\010TEXT78""#,
        ),
        (r#""a\tb""#, s("a\tb"), r#""a\009b""#),
        (r#""""#, s(""), r#""""#),
        (r#""Grüße""#, s("Grüße"), r#""Grüße""#),
        (
            "user1@client1.com",
            s("user1@client1.com"),
            "user1@client1.com",
        ),
        ("A-Grade", s("A-Grade"), "A-Grade"),
        ("100M", s("100M"), "100M"),
        ("#50", Value::Number(50), "#50"),
        ("#-50", Value::Number(-50), "#-50"),
        (
            "#T22-10-2009_15:24:45",
            Value::Date(dt(22, 10, 2009, 15, 24, 45)),
            "#T22-10-2009_15:24:45",
        ),
        (
            "#T07-11-2011",
            Value::Date(dt(7, 11, 2011, 0, 0, 0)),
            "#T07-11-2011_00:00:00",
        ),
        (
            "#I[10.0.44.55]",
            Value::ip("10.0.44.55", None),
            "#I[10.0.44.55]",
        ),
        (
            "#I[10.0.44.55]:25",
            Value::ip("10.0.44.55", Some(25)),
            "#I[10.0.44.55]:25",
        ),
        (
            "#I[2001:470:1f0b::a:80f]:25",
            Value::ip("2001:470:1f0b::a:80f", Some(25)),
            "#I[2001:470:1f0b::a:80f]:25",
        ),
        ("#NULL#", Value::Null, "#NULL#"),
        (
            "[HcqHfHI=]",
            Value::Data(vec![0x1D, 0xCA, 0x87, 0x7C, 0x72]),
            "[HcqHfHI=]",
        ),
        (
            "[AAEC][AwQF]",
            Value::Data(vec![0, 1, 2, 3, 4, 5]),
            "[AAECAwQF]",
        ),
        ("[]", Value::Data(vec![]), "[]"),
        ("()", Value::Array(vec![]), "()"),
        ("{}", Value::Dict(Dict::new()), "{}"),
        (
            r#"(mail.servername.com, client1.com,client2.com)"#,
            Value::Array(vec![
                s("mail.servername.com"),
                s("client1.com"),
                s("client2.com"),
            ]),
            "(mail.servername.com, client1.com, client2.com)",
        ),
        (
            r#"(a, b, "c d")"#,
            Value::Array(vec![s("a"), s("b"), s("c d")]),
            r#"(a, b, "c d")"#,
        ),
        (
            r#"{ServiceClasses={Guests={Changed=#T22-10-2009_15:24:45;Folders=(INBOX,"Sent Items");};};}"#,
            dict(&[(
                "ServiceClasses",
                dict(&[(
                    "Guests",
                    dict(&[
                        ("Changed", Value::Date(dt(22, 10, 2009, 15, 24, 45))),
                        ("Folders", Value::Array(vec![s("INBOX"), s("Sent Items")])),
                    ]),
                )]),
            )]),
            r#"{ServiceClasses={Guests={Changed=#T22-10-2009_15:24:45;Folders=(INBOX, "Sent Items");};};}"#,
        ),
        (
            r#"{ RealName = "Pat Q" ; MaxAccountSize=100M; "key with space"=#1; }"#,
            dict(&[
                ("RealName", s("Pat Q")),
                ("MaxAccountSize", s("100M")),
                ("key with space", Value::Number(1)),
            ]),
            r#"{MaxAccountSize=100M;RealName="Pat Q";"key with space"=#1;}"#,
        ),
        (
            "((a),{b=();c={};},#NULL#,)",
            Value::Array(vec![
                Value::Array(vec![s("a")]),
                dict(&[("b", Value::Array(vec![])), ("c", dict(&[]))]),
                Value::Null,
            ]),
            "((a), {b=();c={};}, #NULL#)",
        ),
    ]
}

#[test]
fn reference_samples_parse_and_print() {
    for (text, value, printed) in samples() {
        assert_eq!(parse(text), Ok(value.clone()), "parsing {text}");
        assert_eq!(value.to_string(), printed, "printing {text}");
        assert_eq!(parse(printed), Ok(value.clone()), "re-parsing {printed}");
        assert_eq!(parse(&format!("  {text}  ")), Ok(value), "spaces {text}");
    }
}

#[test]
fn round_trip_table() {
    let values = vec![
        s("#50"),
        s("#NULL#"),
        s("a_b"),
        s("with \"quotes\" and \\ and \u{7f} and \u{1}"),
        s("многоязычный"),
        Value::Number(i64::MIN),
        Value::Number(i64::MAX),
        Value::Date(dt(29, 2, 2024, 23, 59, 59)),
        Value::Data((0..=255).collect()),
        dict(&[
            ("", s("")),
            ("x y", Value::Array(vec![Value::Null, Value::Number(0)])),
            ("nested", dict(&[("deep", dict(&[("er", s("v"))]))])),
        ]),
    ];
    for v in values {
        let text = v.to_string();
        assert!(!text.contains(['\r', '\n']), "one line: {text}");
        assert_eq!(parse(&text), Ok(v.clone()), "line {text}");
        let pretty = to_text_pretty(&v);
        assert_eq!(parse_text(&pretty), Ok(v), "pretty {pretty}");
    }
}

#[test]
fn parse_prefix_reports_consumed_bytes() {
    assert_eq!(parse_prefix("abc def"), Ok((s("abc"), 3)));
    assert_eq!(parse_prefix("  \"a b\" into"), Ok((s("a b"), 7)));
    assert_eq!(parse_prefix("{a=b;} rest"), Ok((dict(&[("a", s("b"))]), 6)));
    assert!(parse_prefix("").is_err());
    assert!(parse_prefix("   ").is_err());
}

const MAIN_SETTINGS: &str = "// Main.settings sample (reference §2.3)\n\
{\n\
\tAccountCacheSize = 100;\r\n\
\tDomainName = cpanel.communigate.com;\n\
\tLogLevel = 3; // inline comment\n\
\tMBOXSizeToIndex = 100M;\n\
\tTLSTimeToLive = 1m;\n\
\tExternalFilters = ();\n\
\tExternalAUTH = {Enabled=NO;LogLevel=3;};\n\
\tLicenseAccepted = #T07-11-2011_16:53:05;\n\
\tBanner = \"first part \"\n\
\t         \"second part\";\n\
\tKey = [AAEC]\n\
\t      [AwQF];\n\
}\n";

#[test]
fn main_settings_sample_parses() {
    let v = parse_text(MAIN_SETTINGS).expect("sample parses");
    let d = v.as_dict().expect("a dictionary");
    assert_eq!(d.get("AccountCacheSize"), Some(&s("100")));
    assert_eq!(d.get("DomainName"), Some(&s("cpanel.communigate.com")));
    assert_eq!(d.get("MBOXSizeToIndex"), Some(&s("100M")));
    assert_eq!(d.get("ExternalFilters"), Some(&Value::Array(vec![])));
    assert_eq!(
        d.get("ExternalAUTH"),
        Some(&dict(&[("Enabled", s("NO")), ("LogLevel", s("3"))]))
    );
    assert_eq!(
        d.get("LicenseAccepted"),
        Some(&Value::Date(dt(7, 11, 2011, 16, 53, 5)))
    );
    assert_eq!(d.get("Banner"), Some(&s("first part second part")));
    assert_eq!(d.get("Key"), Some(&Value::Data(vec![0, 1, 2, 3, 4, 5])));
    // The same text is not valid single-line text.
    assert!(parse(MAIN_SETTINGS).is_err());
    assert_eq!(parse_text(&to_text_pretty(&v)), Ok(v));
}

#[test]
fn pretty_layout() {
    let v = dict(&[
        ("A", s("x")),
        ("B", dict(&[("C", Value::Array(vec![s("a"), s("b")]))])),
        ("D", Value::Array(vec![dict(&[("E", s("F"))])])),
        ("G", dict(&[])),
    ]);
    let expected = "{\n  A = x;\n  B = {\n    C = (a, b);\n  };\n  D = (\n    {\n      E = F;\n    }\n  );\n  G = {};\n}\n";
    assert_eq!(to_text_pretty(&v), expected);
}

#[test]
fn malformed_inputs_are_errors() {
    let bad: &[(&str, usize)] = &[
        ("", 0),
        ("\"abc", 4),
        ("\"abc\\", 5),
        ("(a b)", 3),
        ("(a,", 3),
        ("{a=b}", 4),
        ("{a b;}", 3),
        ("{=b;}", 1),
        ("{a=;}", 3),
        ("#", 0),
        ("#abc", 0),
        ("#5x", 2),
        ("#99999999999999999999", 1),
        ("#T32-01-2020", 2),
        ("#T01-13-2020", 2),
        ("#T1-1-2020", 2),
        ("#T01-01-2020_25:00:00", 2),
        ("#T01-01-2020_", 13),
        ("#I[]", 3),
        ("#I[1.2.3.4", 10),
        ("#I[1.2.3.4]:99999", 12),
        ("#I[1.2.3.4]:", 12),
        ("[abc", 4),
        ("[a*c]", 2),
        ("[A]", 3),
        ("<xml/>", 0),
        ("a b", 2),
        ("a\tb", 1),
        (")", 0),
        ("\"\\000\"", 2),
        ("#NULL", 0),
    ];
    for (text, pos) in bad {
        match parse(text) {
            Err(Error::Syntax { pos: p, .. }) => assert_eq!(p, *pos, "position for {text:?}"),
            other => panic!("{text:?} should fail, got {other:?}"),
        }
    }
}

#[test]
fn unknown_escape_keeps_backslash() {
    assert_eq!(parse(r#""C:\dir""#), Ok(s("C:\\dir")));
    assert_eq!(parse(r#""\12""#), Ok(s("\\12")));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = "(".repeat(100_000);
    assert!(parse(&deep).is_err());
    let ok = format!("{}{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(parse(&ok).is_ok());
    let too_deep = format!(
        "{}{}",
        "{a=".repeat(MAX_DEPTH + 1),
        "b;}".repeat(MAX_DEPTH + 1)
    );
    assert!(parse(&too_deep).is_err());
}

#[test]
fn every_prefix_of_every_sample_never_panics() {
    let mut texts: Vec<String> = samples()
        .into_iter()
        .map(|(t, _, _)| t.to_owned())
        .collect();
    texts.push(MAIN_SETTINGS.to_owned());
    for t in &texts {
        for (i, _) in t.char_indices() {
            let prefix = &t[..i];
            let _ = parse(prefix);
            let _ = parse_text(prefix);
            let _ = parse_prefix(prefix);
            let suffix = &t[i..];
            let _ = parse(suffix);
            let _ = parse_text(suffix);
        }
    }
}

#[test]
fn accessors() {
    let v = parse("{a=(x,#1);b=#I[1.2.3.4]:25;c=[AAEC];}").expect("parses");
    let d = v.as_dict().expect("dict");
    let a = d["a"].as_array().expect("array");
    assert_eq!(a[0].as_str(), Some("x"));
    assert_eq!(a[1].as_number(), Some(1));
    assert_eq!(d["b"].as_ip(), Some(("1.2.3.4", Some(25))));
    assert_eq!(d["c"].as_data(), Some(&[0u8, 1, 2][..]));
    assert!(parse("#NULL#").expect("null").is_null());
    assert_eq!(Value::from("x"), s("x"));
    assert_eq!(Value::from(5), Value::Number(5));
}

#[test]
fn random_input_never_panics() {
    // A fixed-seed LCG over an alphabet of syntax characters, so failures
    // reproduce without a random-number dependency.
    const ALPHABET: &[&str] = &[
        "{", "}", "(", ")", "[", "]", "\"", "\\", "#", "=", ";", ",", " ", "\t", "\n", "/", "a",
        "Z", "0", "9", "-", "_", "T", "I", "NULL", ":", ".", "é", "\0", "\u{7f}", "=",
    ];
    let mut seed: u64 = 0x5eed;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for _ in 0..20_000 {
        let len = next() % 24;
        let text: String = (0..len)
            .map(|_| ALPHABET[next() % ALPHABET.len()])
            .collect();
        let _ = parse(&text);
        let _ = parse_prefix(&text);
        if let Ok(v) = parse_text(&text) {
            // Whatever parses must print and re-parse to itself.
            if !matches!(&v, Value::String(s) if s.contains('\0')) {
                assert_eq!(parse(&v.to_string()), Ok(v.clone()), "{text:?}");
            }
        }
    }
}
