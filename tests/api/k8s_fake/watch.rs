//! WATCH: replay from a resourceVersion, resume without duplicates after a dropped connection,
//! 410 Gone (compacted history, forced) making the watcher re-list, BOOKMARKs and the close at
//! `timeoutSeconds`, streaming lists, objects moving in and out of a label selection.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::json;

use super::{obj, on_both};

fn cm(name: &str) -> ConfigMap {
    obj(json!({"metadata": {"name": name, "labels": {"app": "web"}}}))
}

fn name_of(o: &ConfigMap) -> String {
    o.metadata.name.clone().unwrap_or_default()
}

/// The next watcher event that is not an error (errors come with dropped connections).
async fn next_event(
    w: &mut (impl futures::Stream<Item = Result<Event<ConfigMap>, watcher::Error>> + Unpin),
) -> Event<ConfigMap> {
    loop {
        match w.next().await.expect("the watcher keeps going") {
            Ok(e) => return e,
            Err(_) => continue,
        }
    }
}

fn describe(e: &Event<ConfigMap>) -> String {
    match e {
        Event::Init => "Init".into(),
        Event::InitApply(o) => format!("InitApply({})", name_of(o)),
        Event::InitDone => "InitDone".into(),
        Event::Apply(o) => format!("Apply({})", name_of(o)),
        Event::Delete(o) => format!("Delete({})", name_of(o)),
    }
}

#[tokio::test]
async fn simulated_watch_replays_from_a_resource_version() {
    on_both(|_, client, _| async move {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let a = cms.create(&PostParams::default(), &cm("a")).await.unwrap();
        let from = a.metadata.resource_version.clone().unwrap();
        cms.create(&PostParams::default(), &cm("b")).await.unwrap();
        cms.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"x": "1"}})),
        )
        .await
        .unwrap();
        let mut stream = cms
            .watch(&WatchParams::default().timeout(30), &from)
            .await
            .unwrap()
            .boxed();
        let mut seen = Vec::new();
        let mut last = String::new();
        for _ in 0..2 {
            match stream.try_next().await.unwrap().unwrap() {
                WatchEvent::Added(o) => {
                    last = o.metadata.resource_version.clone().unwrap();
                    seen.push(format!("ADDED {}", name_of(&o)))
                }
                WatchEvent::Modified(o) => {
                    last = o.metadata.resource_version.clone().unwrap();
                    seen.push(format!("MODIFIED {}", name_of(&o)))
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(seen, ["ADDED b", "MODIFIED a"]);
        drop(stream);
        cms.create(&PostParams::default(), &cm("c")).await.unwrap();
        let mut resumed = cms
            .watch(&WatchParams::default().timeout(30), &last)
            .await
            .unwrap()
            .boxed();
        match resumed.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(o) => assert_eq!(
                name_of(&o),
                "c",
                "resumes after the last seen version, no duplicates"
            ),
            other => panic!("unexpected {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn simulated_watcher_resumes_after_a_dropped_connection_without_duplicates() {
    on_both(|cluster, client, _| async move {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        cms.create(&PostParams::default(), &cm("a")).await.unwrap();
        let mut w = watcher::watcher(cms.clone(), watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut init = Vec::new();
        loop {
            let e = next_event(&mut w).await;
            init.push(describe(&e));
            if matches!(e, Event::InitDone) {
                break;
            }
        }
        assert_eq!(init, ["Init", "InitApply(a)", "InitDone"]);
        cluster.drop_watches();
        cms.create(&PostParams::default(), &cm("b")).await.unwrap();
        assert_eq!(describe(&next_event(&mut w).await), "Apply(b)");
        cms.create(&PostParams::default(), &cm("c")).await.unwrap();
        assert_eq!(
            describe(&next_event(&mut w).await),
            "Apply(c)",
            "b is not delivered twice and there is no re-list"
        );
        let lists = cluster
            .requests()
            .iter()
            .filter(|r| {
                r.method == "GET"
                    && r.path == "/api/v1/namespaces/default/configmaps"
                    && r.param("watch").is_none()
            })
            .count();
        assert_eq!(lists, 1, "one LIST only");
    })
    .await;
}

#[tokio::test]
async fn simulated_410_gone_forces_a_relist() {
    on_both(|cluster, client, _| async move {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let a = cms.create(&PostParams::default(), &cm("a")).await.unwrap();
        cms.create(&PostParams::default(), &cm("b")).await.unwrap();

        // A watch from a compacted-away version gets an ERROR 410 event.
        cluster.compact();
        let mut stream = cms
            .watch(
                &WatchParams::default(),
                a.metadata.resource_version.as_deref().unwrap(),
            )
            .await
            .unwrap()
            .boxed();
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Error(s) => {
                assert_eq!(s.code, 410);
                assert!(
                    s.message.starts_with("too old resource version"),
                    "{}",
                    s.message
                );
            }
            other => panic!("expected 410, got {other:?}"),
        }

        // The watcher answers a 410 with a fresh LIST.
        let mut w = watcher::watcher(cms.clone(), watcher::Config::default())
            .default_backoff()
            .boxed();
        while !matches!(next_event(&mut w).await, Event::InitDone) {}
        cluster.gone_next_watches(1);
        cluster.drop_watches();
        let mut relist = Vec::new();
        loop {
            let e = next_event(&mut w).await;
            relist.push(describe(&e));
            if matches!(e, Event::InitDone) {
                break;
            }
        }
        assert_eq!(relist, ["Init", "InitApply(a)", "InitApply(b)", "InitDone"]);
        cms.create(&PostParams::default(), &cm("c")).await.unwrap();
        assert_eq!(describe(&next_event(&mut w).await), "Apply(c)");
    })
    .await;
}

#[tokio::test]
async fn simulated_watch_sends_a_bookmark_and_closes_at_timeout_seconds() {
    on_both(|cluster, client, _| async move {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        cms.create(&PostParams::default(), &cm("a")).await.unwrap();
        let rv = cluster.resource_version().to_string();
        let events: Vec<WatchEvent<ConfigMap>> = cms
            .watch(&WatchParams::default().timeout(1), &rv)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        match &events[0] {
            WatchEvent::Bookmark(b) => assert!(
                b.metadata.resource_version.parse::<u64>().unwrap() >= rv.parse::<u64>().unwrap()
            ),
            other => panic!("expected a bookmark, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn simulated_streaming_list_and_selection_changes() {
    on_both(|_, client, _| async move {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        cms.create(&PostParams::default(), &cm("a")).await.unwrap();
        let cfg = watcher::Config::default()
            .streaming_lists()
            .labels("app=web");
        let mut w = watcher::watcher(cms.clone(), cfg).boxed();
        let mut init = Vec::new();
        loop {
            let e = next_event(&mut w).await;
            init.push(describe(&e));
            if matches!(e, Event::InitDone) {
                break;
            }
        }
        assert_eq!(init, ["Init", "InitApply(a)", "InitDone"]);
        // Leaving the selection is a DELETED for this watch, coming back an ADDED.
        cms.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app": "db"}}})),
        )
        .await
        .unwrap();
        assert_eq!(describe(&next_event(&mut w).await), "Delete(a)");
        cms.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app": "web"}}})),
        )
        .await
        .unwrap();
        assert_eq!(describe(&next_event(&mut w).await), "Apply(a)");
    })
    .await;
}
