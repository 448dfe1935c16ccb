//! Property tests: generated rules round-trip through print/parse, and arbitrary text keeps
//! the fuzz target's invariants (`rules::fuzzing::check_text`).

use proptest::prelude::*;

fn ipv4() -> impl Strategy<Value = String> {
    (any::<[u8; 4]>(), proptest::option::of(0u8..=32)).prop_map(|(a, p)| {
        let ip = format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
        match p {
            Some(p) => format!("{ip}/{p}"),
            None => ip,
        }
    })
}

fn ipv6() -> impl Strategy<Value = String> {
    (any::<u128>(), proptest::option::of(0u8..=128)).prop_map(|(a, p)| {
        let ip = std::net::Ipv6Addr::from(a).to_string();
        match p {
            Some(p) => format!("{ip}/{p}"),
            None => ip,
        }
    })
}

fn addr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("any".to_string()),
        Just("$HOME_NET".to_string()),
        Just("$EXTERNAL_NET".to_string()),
        ipv4(),
        ipv6(),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|a| format!("!{a}")),
            proptest::collection::vec(inner, 1..4).prop_map(|v| format!("[{}]", v.join(", "))),
        ]
    })
}

fn port() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("any".to_string()),
        Just("$HTTP_PORTS".to_string()),
        any::<u16>().prop_map(|p| p.to_string()),
        (0u16..1000, 1000u16..65535).prop_map(|(a, b)| format!("{a}:{b}")),
        any::<u16>().prop_map(|p| format!("{p}:")),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|a| format!("!{a}")),
            proptest::collection::vec(inner, 1..4).prop_map(|v| format!("[{}]", v.join(","))),
        ]
    })
}

fn option() -> impl Strategy<Value = String> {
    let text = "[a-zA-Z0-9 |:.\\-_/]{1,12}";
    prop_oneof![
        text.prop_map(|t| format!("msg:\"{t}\"")),
        ("[ -~]{1,10}").prop_map(|t| {
            // Escape what content needs escaped.
            let e: String = t
                .chars()
                .flat_map(|c| match c {
                    '"' | ';' | '\\' | '|' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            format!("content:\"{e}\"")
        }),
        any::<Vec<u8>>().prop_map(|b| {
            let hex: Vec<String> = b.iter().take(8).map(|x| format!("{x:02x}")).collect();
            format!("content:\"a|{}|\"", hex.join(" "))
        }),
        Just("nocase".to_string()),
        (0u16..100).prop_map(|d| format!("depth:{d}")),
        Just("flow:established,to_server".to_string()),
        Just("http.uri".to_string()),
        Just("pcre:\"/a\\;b/i\"".to_string()),
        (1u32..100000).prop_map(|s| format!("sid:{s}")),
    ]
}

fn rule() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("alert"),
            Just("drop"),
            Just("pass"),
            Just("rejectboth")
        ],
        prop_oneof![
            Just("tcp"),
            Just("http"),
            Just("ip"),
            Just("tcp-pkt"),
            Just("dns")
        ],
        addr(),
        port(),
        prop_oneof![Just("->"), Just("<>"), Just("=>")],
        addr(),
        port(),
        proptest::collection::vec(option(), 0..8),
        any::<bool>(),
    )
        .prop_map(|(a, p, s, sp, d, t, tp, opts, commented)| {
            let body: String = opts.iter().map(|o| format!("{o}; ")).collect();
            format!(
                "{}{a} {p} {s} {sp} {d} {t} {tp} ({body})",
                if commented { "#" } else { "" }
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_rules_round_trip(text in rule()) {
        let mut r = rules::parse_rule(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        let printed = r.to_string();
        let mut again = rules::parse_rule(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        r.strip_spans();
        again.strip_spans();
        prop_assert_eq!(r, again);
        rules::fuzzing::check_text(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn arbitrary_text_keeps_invariants(text in "[ -~\\n\\\\#]{0,200}") {
        rules::fuzzing::check_text(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn mutated_rules_keep_invariants(text in rule(), pos in any::<prop::sample::Index>(), ch in "[ -~]") {
        let mut t = text.clone();
        let i = pos.index(t.len().max(1)).min(t.len());
        t.insert_str(i, &ch);
        rules::fuzzing::check_text(&t).map_err(TestCaseError::fail)?;
    }
}
