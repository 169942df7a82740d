//! Injected faults (500s on matching requests, a panic inside the handler) and Events written by
//! kube's `Recorder` (events.k8s.io/v1 POST then merge-patch) read back through core/v1.

use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent, ObjectReference};
use k8s_openapi::api::events::v1::Event as NewEvent;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder};
use serde_json::json;

use super::{api_error, obj, on_both};

#[tokio::test]
async fn simulated_injected_500s_then_recovery() {
    on_both(|cluster, client, _| async move {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        cms.create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "x"}})),
        )
        .await
        .unwrap();
        cluster.fail_next(Some("GET"), "/configmaps/x", 2, 500);
        assert_eq!(api_error(cms.get("x").await).code, 500);
        assert_eq!(api_error(cms.get("x").await).code, 500);
        assert!(cms.get("x").await.is_ok());
        let statuses: Vec<u16> = cluster
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/configmaps/x"))
            .map(|r| r.status)
            .collect();
        assert_eq!(statuses, [500, 500, 200]);
    })
    .await;
}

#[tokio::test]
async fn simulated_panic_inside_the_fake_is_a_500_and_recorded() {
    let cluster = crate::support::k8s_fake::FakeCluster::new();
    let client = cluster.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cluster.panic_next("/configmaps/boom");
    let err = api_error(cms.get("boom").await);
    assert_eq!((err.code, err.reason.as_str()), (500, "InternalError"));
    assert_eq!(cluster.failures().len(), 1, "{:?}", cluster.failures());
    // The client (and kube's Buffer worker) still works.
    assert_eq!(api_error(cms.get("boom").await).code, 404);
    cluster.clear_failures();
}

#[tokio::test]
async fn simulated_events_from_kubes_recorder_post_then_merge_patch() {
    on_both(|cluster, client, _| async move {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let cm = cms
            .create(
                &PostParams::default(),
                &obj(json!({"metadata": {"name": "subject"}})),
            )
            .await
            .unwrap();
        let reference = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("ConfigMap".into()),
            name: cm.metadata.name.clone(),
            namespace: Some("default".into()),
            uid: cm.metadata.uid.clone(),
            ..Default::default()
        };
        let recorder = Recorder::new(client.clone(), "maestro".into());
        let ev = Event {
            type_: EventType::Warning,
            reason: "JobBlocked".into(),
            note: Some("quota exceeded".into()),
            action: "Provision".into(),
            secondary: None,
        };
        recorder.publish(&ev, &reference).await.unwrap();
        recorder.publish(&ev, &reference).await.unwrap();
        let methods: Vec<String> = cluster
            .requests()
            .iter()
            .filter(|r| {
                r.path
                    .starts_with("/apis/events.k8s.io/v1/namespaces/default/events")
            })
            .map(|r| r.method.clone())
            .collect();
        assert_eq!(methods, ["POST", "PATCH"]);

        let new_api: Api<NewEvent> = Api::namespaced(client.clone(), "default");
        let listed = new_api
            .list(&ListParams::default().fields("regarding.name=subject"))
            .await
            .unwrap();
        assert_eq!(listed.items.len(), 1);
        assert_eq!(listed.items[0].series.as_ref().map(|s| s.count), Some(2));
        let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
        let listed = core
            .list(&ListParams::default().fields("involvedObject.name=subject"))
            .await
            .unwrap();
        assert_eq!(listed.items.len(), 1);
        assert_eq!(listed.items[0].reason.as_deref(), Some("JobBlocked"));
        assert_eq!(listed.items[0].message.as_deref(), Some("quota exceeded"));
    })
    .await;
}

#[tokio::test]
async fn simulated_hostile_numbers_do_not_break_the_fake() {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::batch::v1::Job;
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{LogParams, WatchEvent, WatchParams};

    let cluster = crate::support::k8s_fake::FakeCluster::new();
    let client = cluster.client();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let job: Job = obj(
        json!({"metadata": {"name": "forever"}, "spec": {"activeDeadlineSeconds": i64::MAX, "backoffLimit": 0,
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "t", "image": "busybox:1.36", "command": ["true"]}]}}}}),
    );
    jobs.create(&PostParams::default(), &job).await.unwrap();
    cluster
        .wait_for_condition::<Job>("default", "forever", "Complete", "True")
        .await;

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut stream = cms
        .watch(&WatchParams::default().timeout(u32::MAX), "0")
        .await
        .unwrap()
        .boxed();
    cms.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": "seen"}})),
    )
    .await
    .unwrap();
    assert!(matches!(
        stream.try_next().await.unwrap(),
        Some(WatchEvent::Added(_))
    ));

    let pod = cluster.list::<Pod>(Some("default")).pop().unwrap();
    let lp = LogParams {
        since_seconds: Some(i64::MAX),
        ..LogParams::default()
    };
    Api::<Pod>::namespaced(client.clone(), "default")
        .logs(pod.metadata.name.as_deref().unwrap(), &lp)
        .await
        .unwrap();
    cluster.assert_no_failures();
}
