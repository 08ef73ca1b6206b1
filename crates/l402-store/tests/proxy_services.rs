//! Proxy services added at runtime (migration 8), the same on SQLite and
//! PostgreSQL (`L402_TEST_DATABASE_URL`; a fresh schema per run; without
//! it the PostgreSQL part says how to enable it, and fails under
//! `L402_REQUIRE_POSTGRES=1`): unique names, owners, updates, deletes, and
//! the bounds in all and per owner, pushed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pg_support;

use l402_store::{MerchantStore, ProxyServiceStore, ServiceInserted, ServiceLimits, Store};
use pg_support::{DropSchema, pg_url, unique_schema};

async fn stores() -> Vec<(Store, Option<DropSchema>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::sqlite(dir.path().join("s.sqlite")).await.unwrap();
    let mut out = vec![(sqlite, None, dir)];
    if let Some(url) = pg_url() {
        let schema = unique_schema("proxy_services");
        let pg = Store::builder()
            .postgres(url.clone())
            .schema(schema.clone())
            .open()
            .await
            .unwrap();
        out.push((
            pg,
            Some(DropSchema { url, schema }),
            tempfile::tempdir().unwrap(),
        ));
    }
    out
}

#[tokio::test]
async fn services_are_stored_bounded_changed_and_deleted() {
    for (store, _drop, _dir) in stores().await {
        let backend = store.backend();
        let m = store.create_merchant("m").await.unwrap().id;
        let limits = ServiceLimits {
            total: 5,
            per_owner: 2,
        };
        let def = r#"{"name":"a","address":"127.0.0.1:1"}"#;
        let a = match store
            .insert_proxy_service("a", None, def, None, limits)
            .await
            .unwrap()
        {
            ServiceInserted::Stored(a) => a,
            other => panic!("{backend}: {other:?}"),
        };
        assert_eq!((a.merchant_id, a.definition.as_str()), (None, def));
        assert_eq!(
            store
                .insert_proxy_service("a", Some(m), def, None, limits)
                .await
                .unwrap(),
            ServiceInserted::Exists,
            "{backend}"
        );
        // Per owner: the operator's second, then its third refused.
        assert!(matches!(
            store
                .insert_proxy_service("b", None, def, None, limits)
                .await
                .unwrap(),
            ServiceInserted::Stored(_)
        ));
        assert_eq!(
            store
                .insert_proxy_service("c", None, def, None, limits)
                .await
                .unwrap(),
            ServiceInserted::Full,
            "{backend}"
        );
        // A merchant's count is its own; then the total bound.
        for name in ["m1", "m2"] {
            let got = store
                .insert_proxy_service(name, Some(m), def, Some(r#"{"name":"x"}"#), limits)
                .await
                .unwrap();
            let ServiceInserted::Stored(s) = got else {
                panic!("{backend}: {got:?}")
            };
            assert_eq!(s.merchant_id, Some(m));
            assert_eq!(s.meta.as_deref(), Some(r#"{"name":"x"}"#));
        }
        assert_eq!(
            store
                .insert_proxy_service("m3", Some(m), def, None, limits)
                .await
                .unwrap(),
            ServiceInserted::Full
        );
        let other = store.create_merchant("other").await.unwrap().id;
        assert!(matches!(
            store
                .insert_proxy_service("o1", Some(other), def, None, limits)
                .await
                .unwrap(),
            ServiceInserted::Stored(_)
        ));
        assert_eq!(
            store
                .insert_proxy_service("o2", Some(other), def, None, limits)
                .await
                .unwrap(),
            ServiceInserted::Full,
            "{backend}: 5 in all"
        );
        let names: Vec<String> = store
            .proxy_services()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names.len(), 5, "{backend}: {names:?}");

        let changed = store
            .update_proxy_service("a", r#"{"name":"a","address":"127.0.0.1:2"}"#)
            .await
            .unwrap()
            .unwrap();
        assert!(changed.definition.contains("127.0.0.1:2"));
        assert!(
            store
                .update_proxy_service("zz", def)
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.delete_proxy_service("a").await.unwrap());
        assert!(!store.delete_proxy_service("a").await.unwrap());
        assert!(store.proxy_service("a").await.unwrap().is_none());
        store.close().await;
    }
}
