//! Endpoint lists, as properties: any text either parses into endpoints
//! whose written form parses back to the same endpoints, or is refused with
//! an error that names the offending endpoint; never a panic. Well-formed
//! lists round-trip exactly.
//!
//! A failure prints its minimal case; replay a run with
//! PROPTEST_RNG_SEED=<seed> cargo test -p cairn-client --test endpoints.

use cairn_client::endpoint::{parse_list, Endpoint, EndpointError, Scheme};
use proptest::prelude::*;

fn scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![Just(Scheme::Bare), Just(Scheme::Http), Just(Scheme::Https)]
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])),
        any::<[u16; 8]>().prop_map(|words| std::net::Ipv6Addr::from(words).to_string()),
        "[a-z0-9][a-z0-9-]{0,10}(\\.[a-z0-9][a-z0-9-]{0,10}){0,3}",
    ]
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    prop_oneof![
        (scheme(), host(), 1u16..).prop_map(|(scheme, host, port)| {
            Endpoint::new(scheme, &host, port).expect("generated parts are valid")
        }),
        // Unix sockets: a file name, relative or absolute.
        ("unixs?://", "/?[a-z0-9._-]{1,12}(/[a-z0-9._:-]{1,12}){0,3}").prop_map(
            |(scheme, path)| {
                Endpoint::parse(&format!("{scheme}{path}"))
                    .expect("generated socket paths are valid")
            }
        ),
    ]
}

/// Text close to endpoints: the characters they use, in any order.
fn endpointish() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9:/.\\[\\],@ ?#%+_-]{0,60}",
        "(https?://|unixs?://|)[a-z0-9.:\\[\\]]{0,20}(,(https?://)?[a-z0-9.:]{0,12}){0,3}",
        any::<String>(),
    ]
}

proptest! {
    #[test]
    fn any_text_round_trips_or_is_refused_clearly(text in endpointish()) {
        match parse_list([&text]) {
            Ok(endpoints) => {
                let written: Vec<String> = endpoints.iter().map(Endpoint::to_string).collect();
                prop_assert_eq!(parse_list(&written).expect("written forms parse"), endpoints.clone());
                prop_assert_eq!(parse_list([written.join(",")]).expect("joined forms parse"), endpoints);
            }
            Err(EndpointError::NoEndpoints) => prop_assert!(false, "one item gives at least one endpoint"),
            Err(error @ EndpointError::Invalid { .. }) => {
                let message = error.to_string();
                prop_assert!(message.starts_with("endpoint \""), "{}", message);
                let EndpointError::Invalid { endpoint, .. } = error else { unreachable!() };
                prop_assert!(text.split(',').any(|item| item == endpoint), "{:?} is not an item of {:?}", endpoint, text);
            }
        }
    }

    #[test]
    fn well_formed_lists_round_trip(endpoints in prop::collection::vec(endpoint(), 1..6)) {
        let written = endpoints.iter().map(Endpoint::to_string).collect::<Vec<_>>().join(",");
        prop_assert_eq!(parse_list([&written]).expect("parses"), endpoints);
    }

    #[test]
    fn tls_is_decided_by_scheme_then_by_options(endpoint in endpoint(), options_given in any::<bool>()) {
        let expected = match endpoint.scheme() {
            Scheme::Https | Scheme::Unixs => true,
            Scheme::Http | Scheme::Unix => false,
            Scheme::Bare => options_given,
        };
        prop_assert_eq!(endpoint.uses_tls(options_given), expected);
    }
}
