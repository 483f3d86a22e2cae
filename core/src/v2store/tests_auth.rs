//! The v2 auth state: etcd's decisions (`v2auth/auth.go`, its tests and the
//! answers of a real etcd 3.4.23), access checks, and the image's auth part.

use super::*;

fn user_put(name: &str, hash: Option<&str>, roles: Option<&[&str]>) -> V2AuthWrite {
    V2AuthWrite::UserPut {
        name: name.into(),
        password_hash: hash.map(str::to_owned),
        roles: roles.map(|roles| roles.iter().map(|r| r.to_string()).collect()),
        grant: Vec::new(),
        revoke: Vec::new(),
    }
}

fn grant_user(name: &str, grant: &[&str], revoke: &[&str]) -> V2AuthWrite {
    V2AuthWrite::UserPut {
        name: name.into(),
        password_hash: None,
        roles: None,
        grant: grant.iter().map(|r| r.to_string()).collect(),
        revoke: revoke.iter().map(|r| r.to_string()).collect(),
    }
}

fn globs(globs: &[&str]) -> Option<Vec<String>> {
    Some(globs.iter().map(|g| g.to_string()).collect())
}

fn role_update(name: &str, read: &[&str], write: &[&str], revoke_read: &[&str]) -> V2AuthWrite {
    V2AuthWrite::RoleUpdate {
        name: name.into(),
        grant: V2Permissions {
            read: globs(read),
            write: globs(write),
        },
        revoke: V2Permissions {
            read: globs(revoke_read),
            write: None,
        },
    }
}

fn role_create(name: &str) -> V2AuthWrite {
    V2AuthWrite::RoleCreate {
        role: V2Role {
            name: name.into(),
            permissions: V2Permissions::default(),
        },
    }
}

fn refused(store: &mut V2Store, write: V2AuthWrite) -> (u16, String) {
    let before = store.clone();
    let error = store.apply_auth(&write).expect_err("refused");
    assert_eq!(store, &before, "a refusal changes nothing");
    (error.status, error.message)
}

fn user_answer(answer: V2AuthAnswer) -> (Option<Vec<String>>, bool) {
    match answer {
        V2AuthAnswer::User { roles, created, .. } => (roles, created),
        other => panic!("not a user answer: {other:?}"),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn users_are_created_then_updated_as_etcd_decides() {
    let mut store = V2Store::new();
    assert_eq!(
        refused(&mut store, user_put("bob", None, None)),
        (
            400,
            "auth: Cannot create user bob with an empty password".into()
        )
    );
    // Created without roles: `"roles":null`, 201.
    let answer = store
        .apply_auth(&user_put("bob", Some("h1"), None))
        .unwrap();
    assert_eq!(user_answer(answer), (None, true));
    // No password, no roles, existing: an update that makes roles `[]`...
    let answer = store.apply_auth(&user_put("bob", None, None)).unwrap();
    assert_eq!(user_answer(answer), (Some(vec![]), false));
    // ...and then there is nothing left to update.
    assert_eq!(
        refused(&mut store, user_put("bob", None, None)),
        (
            400,
            "auth: User not updated. Use grant/revoke/password to update the user.".into()
        )
    );
    // Roles given: a create (200), roles as given, missing roles and all.
    let answer = store
        .apply_auth(&user_put("carl", Some("h"), Some(&["z", "a", "a"])))
        .unwrap();
    assert_eq!(
        user_answer(answer),
        (Some(strings(&["z", "a", "a"])), false)
    );
    assert_eq!(
        refused(&mut store, user_put("carl", Some("h"), Some(&["a"]))),
        (409, "auth: User carl already exists.".into())
    );
    // A new password is an update even with the same roles.
    let answer = store
        .apply_auth(&user_put("bob", Some("h2"), None))
        .unwrap();
    assert_eq!(user_answer(answer), (Some(vec![]), false));
    assert_eq!(store.auth().user("bob").unwrap().password_hash, "h2");
}

#[test]
fn grants_and_revokes_are_sets_and_refuse_what_etcd_refuses() {
    let mut store = V2Store::new();
    store
        .apply_auth(&user_put("carl", Some("h"), Some(&["z", "a", "a"])))
        .unwrap();
    let answer = store
        .apply_auth(&grant_user("carl", &["m"], &["z"]))
        .unwrap();
    assert_eq!(user_answer(answer), (Some(strings(&["a", "m"])), false));
    assert_eq!(
        refused(&mut store, grant_user("carl", &["b", "b"], &[])),
        (409, "auth: Granting duplicate role b for user carl".into())
    );
    assert_eq!(
        refused(&mut store, grant_user("carl", &[], &["q"])),
        (409, "auth: Revoking ungranted role q for user carl".into())
    );
    assert_eq!(
        refused(&mut store, grant_user("nobody", &["a"], &[])),
        (404, "auth: User nobody does not exist.".into())
    );
    let both = V2AuthWrite::UserPut {
        name: "carl".into(),
        password_hash: None,
        roles: Some(strings(&["a"])),
        grant: strings(&["b"]),
        revoke: Vec::new(),
    };
    assert_eq!(
        refused(&mut store, both),
        (400, "User JSON contains both roles and grant/revoke".into())
    );
}

#[test]
fn the_root_user_always_has_the_root_role() {
    let mut store = V2Store::new();
    let answer = store
        .apply_auth(&user_put("root", Some("h"), None))
        .unwrap();
    assert_eq!(user_answer(answer), (Some(strings(&["root"])), true));
    // Revoked, it comes back whenever the user is read.
    let answer = store
        .apply_auth(&grant_user("root", &[], &["root"]))
        .unwrap();
    assert_eq!(user_answer(answer), (Some(vec![]), false));
    let root = store.auth().user("root").unwrap();
    assert_eq!(root.roles, Some(strings(&["root"])));
    assert!(V2Auth::is_root(&root));
    assert!(store.auth().user_may_access(&root, "/any", true, true));
}

#[test]
fn enabling_needs_root_and_creates_the_guest_role() {
    let mut store = V2Store::new();
    assert_eq!(
        refused(&mut store, V2AuthWrite::Enable),
        (
            409,
            "auth: No root user available, please create one".into()
        )
    );
    assert_eq!(
        refused(&mut store, V2AuthWrite::Disable),
        (409, "auth: already disabled".into())
    );
    store
        .apply_auth(&user_put("root", Some("h"), None))
        .unwrap();
    assert_eq!(
        store.apply_auth(&V2AuthWrite::Enable),
        Ok(V2AuthAnswer::Done)
    );
    assert!(store.auth().enabled());
    assert_eq!(
        store.auth().role(GUEST_ROLE).unwrap().permissions,
        V2Permissions {
            read: globs(&["/*"]),
            write: globs(&["/*"]),
        }
    );
    assert_eq!(
        refused(&mut store, V2AuthWrite::Enable),
        (409, "auth: already enabled".into())
    );
    assert_eq!(
        refused(
            &mut store,
            V2AuthWrite::UserDelete {
                name: "root".into()
            }
        ),
        (
            403,
            "auth: Cannot delete root user while auth is enabled.".into()
        )
    );
    // Auth writes take no v2 index.
    assert_eq!(store.index(), 0);
    assert_eq!(
        store.apply_auth(&V2AuthWrite::Disable),
        Ok(V2AuthAnswer::Done)
    );
    assert_eq!(
        store.apply_auth(&V2AuthWrite::UserDelete {
            name: "root".into()
        }),
        Ok(V2AuthAnswer::Done)
    );
    assert_eq!(
        refused(
            &mut store,
            V2AuthWrite::UserDelete {
                name: "root".into()
            }
        ),
        (404, "auth: User root does not exist".into())
    );
}

#[test]
fn an_existing_guest_role_is_kept_on_enable() {
    let mut store = V2Store::new();
    store
        .apply_auth(&user_put("root", Some("h"), None))
        .unwrap();
    store.apply_auth(&role_create(GUEST_ROLE)).unwrap();
    store.apply_auth(&V2AuthWrite::Enable).unwrap();
    assert!(!store.auth().guest_may_access("/a", false));
}

#[test]
fn roles_are_created_merged_and_deleted_as_etcd_does() {
    let mut store = V2Store::new();
    assert_eq!(
        refused(&mut store, role_create("root")),
        (403, "auth: Cannot modify role root: is root role.".into())
    );
    store.apply_auth(&role_create("r1")).unwrap();
    assert_eq!(
        refused(&mut store, role_create("r1")),
        (409, "auth: Role r1 already exists.".into())
    );
    // Created without globs: both `null`.
    assert_eq!(
        store.auth().role("r1").unwrap().permissions,
        V2Permissions::default()
    );
    let answer = store
        .apply_auth(&role_update("r1", &["/b", "/a*"], &[], &[]))
        .unwrap();
    let V2AuthAnswer::Role(role) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(role.permissions.read, globs(&["/a*", "/b"]));
    assert_eq!(role.permissions.write, Some(vec![]));
    assert_eq!(
        refused(&mut store, role_update("r1", &["/b"], &[], &[])),
        (409, "auth: Granting duplicate read permission /b".into())
    );
    assert_eq!(
        refused(&mut store, role_update("r1", &[], &["/w", "/w"], &[])),
        (409, "auth: Granting duplicate write permission /w".into())
    );
    // Revoking what is not there is no error, but no change is.
    assert_eq!(
        refused(&mut store, role_update("r1", &[], &[], &["/zzz"])),
        (
            400,
            "auth: Role not updated. Use grant/revoke to update the role.".into()
        )
    );
    assert_eq!(
        refused(&mut store, role_update("root", &["/x"], &[], &[])),
        (403, "auth: Cannot modify role root: is root role.".into())
    );
    assert_eq!(
        refused(&mut store, role_update("nope", &["/x"], &[], &[])),
        (404, "auth: Role nope does not exist.".into())
    );
    assert_eq!(
        refused(
            &mut store,
            V2AuthWrite::RoleDelete {
                name: "root".into()
            }
        ),
        (403, "auth: Cannot modify role root: is root role.".into())
    );
    assert_eq!(
        refused(
            &mut store,
            V2AuthWrite::RoleDelete {
                name: "nope".into()
            }
        ),
        (404, "auth: Role nope doesn't exist.".into())
    );
    store
        .apply_auth(&V2AuthWrite::RoleDelete { name: "r1".into() })
        .unwrap();
    assert!(store.auth().is_empty());
}

#[test]
fn listings_are_sorted_with_root_and_without_hidden_names() {
    let mut store = V2Store::new();
    for name in ["b", "_hidden", "a"] {
        store.apply_auth(&user_put(name, Some("h"), None)).unwrap();
        store.apply_auth(&role_create(name)).unwrap();
    }
    assert_eq!(store.auth().user_names(), strings(&["a", "b"]));
    assert_eq!(store.auth().role_names(), strings(&["a", "b", "root"]));
    assert!(store.auth().user("_hidden").is_some());
}

/// etcd's `TestRoleHasKeyAccess` and `hasKeyPrefixAccess` cases.
#[test]
fn globs_grant_keys_and_prefixes_as_etcd_matches_them() {
    let role = V2Role {
        name: "r".into(),
        permissions: V2Permissions {
            read: globs(&["/foo", "/bar*", ""]),
            write: globs(&["/w*"]),
        },
    };
    assert!(role.has_key_access("/foo", false));
    assert!(!role.has_key_access("/foo/x", false));
    assert!(!role.has_key_access("/foo", true));
    assert!(role.has_key_access("/barbaz", false));
    assert!(role.has_key_access("/bar/x", false));
    assert!(role.has_key_access("/w/x", true));
    assert!(
        !role.has_key_access("", false),
        "an empty glob matches nothing"
    );
    // Recursive access needs a `*` glob over the prefix.
    assert!(!role.has_recursive_access("/foo", false));
    assert!(role.has_recursive_access("/bar", false));
    assert!(role.has_recursive_access("/w", true));
    let root = V2Auth::default().role(ROOT_ROLE).unwrap();
    assert!(root.has_key_access("", true) && root.has_recursive_access("", true));
    // The guest role grants the key alone; `/*` does not cover `/v2/keys`'s
    // empty key.
    let mut store = V2Store::new();
    store
        .apply_auth(&user_put("root", Some("h"), None))
        .unwrap();
    store.apply_auth(&V2AuthWrite::Enable).unwrap();
    assert!(store.auth().guest_may_access("/a", true));
    assert!(!store.auth().guest_may_access("", false));
    store
        .apply_auth(&V2AuthWrite::RoleDelete {
            name: GUEST_ROLE.into(),
        })
        .unwrap();
    assert!(!store.auth().guest_may_access("/a", false));
}

#[test]
fn a_users_missing_roles_grant_nothing() {
    let mut store = V2Store::new();
    store
        .apply_auth(&user_put("u", Some("h"), Some(&["gone", "r"])))
        .unwrap();
    store.apply_auth(&role_create("r")).unwrap();
    store
        .apply_auth(&role_update("r", &["/r/*"], &[], &[]))
        .unwrap();
    let user = store.auth().user("u").unwrap();
    assert!(!V2Auth::is_root(&user));
    assert!(store.auth().user_may_access(&user, "/r/x", false, false));
    assert!(store.auth().user_may_access(&user, "/r/", true, false));
    assert!(!store.auth().user_may_access(&user, "/r/x", false, true));
    assert!(!store.auth().user_may_access(&user, "/s", false, false));
}

#[test]
fn auth_state_travels_in_the_image_and_empty_adds_nothing() {
    let mut store = V2Store::new();
    assert!(store.encode().is_empty());
    store
        .apply_auth(&user_put("root", Some("h"), None))
        .unwrap();
    store
        .apply_auth(&user_put("u", Some("h"), Some(&["b", "a"])))
        .unwrap();
    store.apply_auth(&role_create("r")).unwrap();
    store.apply_auth(&V2AuthWrite::Enable).unwrap();
    // Index 0, yet an image: the auth section follows the empty tree.
    let bytes = store.encode();
    assert!(!bytes.is_empty());
    let decoded = V2Store::decode(&bytes).unwrap();
    assert_eq!(decoded, store);
    assert_eq!(decoded.encode(), bytes);
    // With keys too.
    store
        .apply(&V2Write::Set {
            path: "/k".into(),
            dir: false,
            value: "v".into(),
            expire_ms: None,
            refresh: false,
        })
        .unwrap();
    let bytes = store.encode();
    assert_eq!(V2Store::decode(&bytes).unwrap(), store);
    // Everything removed again: the empty image once more.
    let mut store = V2Store::new();
    store.apply_auth(&role_create("r")).unwrap();
    store
        .apply_auth(&V2AuthWrite::RoleDelete { name: "r".into() })
        .unwrap();
    assert!(store.encode().is_empty());
}

#[test]
fn images_without_auth_read_as_before() {
    let mut store = V2Store::new();
    store
        .apply(&V2Write::Set {
            path: "/k".into(),
            dir: false,
            value: "v".into(),
            expire_ms: None,
            refresh: false,
        })
        .unwrap();
    let bytes = store.encode();
    // version, index, one node, its history event: no auth section.
    let decoded = V2Store::decode(&bytes).unwrap();
    assert!(decoded.auth().is_empty());
    // An empty auth section is not canonical: refused.
    let mut padded = bytes.clone();
    padded.extend_from_slice(&[0, 0, 0]);
    assert!(V2Store::decode(&padded).is_err());
    // Neither is auth on without a root user, nor a stored root role.
    let mut enabled = bytes.clone();
    enabled.extend_from_slice(&[1, 0, 0]);
    assert!(V2Store::decode(&enabled).is_err());
    let mut root_role = bytes;
    root_role.extend_from_slice(&[0, 0, 1, 4, b'r', b'o', b'o', b't', 0]);
    assert!(V2Store::decode(&root_role).is_err());
}

#[test]
fn auth_writes_through_apply_change_state_but_answer_no_event() {
    let mut store = V2Store::new();
    let write = V2Write::Auth(user_put("root", Some("h"), None));
    assert_eq!(store.apply(&write), Ok(Vec::new()));
    assert!(store.auth().user("root").is_some());
    // Refused (exists): still no event, nothing changed.
    let before = store.clone();
    assert_eq!(store.apply(&write), Ok(Vec::new()));
    assert_eq!(store, before);
}
