//! GET / LIST (label and field selectors, paging) / CREATE (409) / server-side apply (no-op
//! re-apply, conflicts, dropped fields) / merge patch / status subresource / replace / DELETE.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::{api_error, obj, on_both};

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    obj(json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}))
}

#[tokio::test]
async fn simulated_create_get_list_delete_and_create_twice_is_409() {
    on_both(|cluster, client, _| async move {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let created = cms
            .create(
                &PostParams::default(),
                &cm("a", json!({"app": "web", "tier": "front"})),
            )
            .await
            .unwrap();
        let meta = &created.metadata;
        assert!(
            meta.uid.is_some()
                && meta.creation_timestamp.is_some()
                && meta.resource_version.is_some()
        );
        let again = api_error(
            cms.create(&PostParams::default(), &cm("a", json!({})))
                .await,
        );
        assert_eq!((again.code, again.reason.as_str()), (409, "AlreadyExists"));
        assert_eq!(again.message, "configmaps \"a\" already exists");

        cms.create(&PostParams::default(), &cm("b", json!({"app": "db"})))
            .await
            .unwrap();
        cms.create(
            &PostParams::default(),
            &cm("c", json!({"app": "web", "tier": "back"})),
        )
        .await
        .unwrap();
        let names = |l: kube::core::ObjectList<ConfigMap>| {
            l.items
                .into_iter()
                .map(|c| c.metadata.name.unwrap())
                .collect::<Vec<_>>()
        };
        let list = |sel: &'static str| {
            let cms = cms.clone();
            async move { names(cms.list(&ListParams::default().labels(sel)).await.unwrap()) }
        };
        assert_eq!(list("app=web").await, ["a", "c"]);
        assert_eq!(list("app==web,tier!=front").await, ["c"]);
        assert_eq!(list("app in (db, web),!tier").await, ["b"]);
        assert_eq!(list("tier notin (front)").await, ["b", "c"]);
        assert_eq!(list("tier").await, ["a", "c"]);
        assert_eq!(
            names(
                cms.list(&ListParams::default().fields("metadata.name=b"))
                    .await
                    .unwrap()
            ),
            ["b"]
        );
        let bad = api_error(cms.list(&ListParams::default().fields("data.k=v")).await);
        assert_eq!(
            (bad.code, bad.message.as_str()),
            (400, "field label not supported: data.k")
        );

        // Paging with limit / continue, as the watcher's initial list does.
        let page = cms.list(&ListParams::default().limit(2)).await.unwrap();
        assert_eq!(page.items.len(), 2);
        let token = page.metadata.continue_.clone().expect("a continue token");
        let rest = cms
            .list(&ListParams::default().limit(2).continue_token(&token))
            .await
            .unwrap();
        assert_eq!(names(rest), ["c"]);

        let got = cms.get("a").await.unwrap();
        assert_eq!(got.data.unwrap()["k"], "v");
        let deleted = cms.delete("a", &DeleteParams::default()).await.unwrap();
        assert!(
            deleted.is_right(),
            "an immediate delete answers a Success Status"
        );
        let gone = api_error(cms.get("a").await);
        assert_eq!(
            (gone.code, gone.reason.as_str(), gone.message.as_str()),
            (404, "NotFound", "configmaps \"a\" not found")
        );
        assert_eq!(
            api_error(cms.delete("a", &DeleteParams::default()).await).code,
            404
        );
        assert!(cluster.get::<ConfigMap>("default", "a").is_none());
    })
    .await;
}

#[tokio::test]
async fn simulated_apply_twice_is_one_object_and_no_second_event() {
    on_both(|cluster, client, _| async move {
        let nss: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = obj(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "maestro-1a2b3c4d", "labels": {"app.kubernetes.io/managed-by": "maestro"}, "annotations": {"maestro.io/expires-at": "2030-01-01T00:00:00Z"}}}));
        let pp = PatchParams::apply("maestro").force();
        let first = nss.patch("maestro-1a2b3c4d", &pp, &Patch::Apply(&ns)).await.unwrap();
        let second = nss.patch("maestro-1a2b3c4d", &pp, &Patch::Apply(&ns)).await.unwrap();
        assert_eq!(first.metadata.resource_version, second.metadata.resource_version, "re-applying changes nothing");
        let labels = second.metadata.labels.clone().unwrap();
        assert_eq!(labels["kubernetes.io/metadata.name"], "maestro-1a2b3c4d", "the automatic namespace label");
        let history: Vec<_> = cluster.history::<Namespace>().into_iter().filter(|(_, n, _)| n == "/maestro-1a2b3c4d").collect();
        assert_eq!(history.len(), 1, "one ADDED and no second event: {history:?}");
        assert_eq!(history[0].0, "ADDED");

        // A secret applied with stringData twice is one version too (stringData folds into data).
        let secrets: Api<Secret> = Api::namespaced(client.clone(), "maestro-1a2b3c4d");
        let s: Secret = obj(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"password": "pw"}}));
        let a = secrets.patch("db", &pp, &Patch::Apply(&s)).await.unwrap();
        let b = secrets.patch("db", &pp, &Patch::Apply(&s)).await.unwrap();
        assert_eq!(a.metadata.resource_version, b.metadata.resource_version);
        assert_eq!(b.data.unwrap()["password"].0, b"pw");

        // A changed apply is one MODIFIED; fields the manager stopped applying go away.
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "maestro-1a2b3c4d");
        let v1: ConfigMap = obj(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1"}}));
        let v2: ConfigMap = obj(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"a": "1"}}, "data": {"x": "2"}}));
        let one = cms.patch("cfg", &pp, &Patch::Apply(&v1)).await.unwrap();
        let two = cms.patch("cfg", &pp, &Patch::Apply(&v2)).await.unwrap();
        assert_ne!(one.metadata.resource_version, two.metadata.resource_version);
        assert_eq!(two.metadata.labels.unwrap().len(), 1);
        assert_eq!(two.data.unwrap()["x"], "2");
        let kinds: Vec<String> = cluster.history::<ConfigMap>().into_iter().map(|(k, _, _)| k).collect();
        assert_eq!(kinds, ["ADDED", "MODIFIED"]);

        // Another manager changing an applied field conflicts unless it forces.
        let other: ConfigMap = obj(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"x": "3"}}));
        let conflict = api_error(cms.patch("cfg", &PatchParams::apply("someone-else"), &Patch::Apply(&other)).await);
        assert_eq!(conflict.code, 409);
        assert!(conflict.message.contains("conflict with \"maestro\": .data.x"), "{}", conflict.message);
        cms.patch("cfg", &PatchParams::apply("someone-else").force(), &Patch::Apply(&other)).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn simulated_apply_needs_a_field_manager_and_matching_names() {
    on_both(|_, client, _| async move {
        let body = serde_json::to_vec(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
        )
        .unwrap();
        let req = http::Request::patch("/api/v1/namespaces/default/configmaps/x?force=true")
            .header("content-type", "application/apply-patch+yaml")
            .body(body)
            .unwrap();
        let err = api_error(client.request::<ConfigMap>(req).await);
        assert_eq!(err.code, 422);
        assert!(
            err.message.contains("fieldManager: Required value"),
            "{}",
            err.message
        );

        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let wrong: ConfigMap =
            obj(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}}));
        let err = api_error(
            cms.patch("x", &PatchParams::apply("maestro"), &Patch::Apply(&wrong))
                .await,
        );
        assert_eq!(err.code, 400);
        assert_eq!(
            err.message,
            "the name of the object (other) does not match the name on the URL (x)"
        );
    })
    .await;
}

fn job(ns: &str, name: &str) -> Job {
    obj(
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": ns},
        "spec": {"suspend": true, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "t", "image": "busybox:1.36"}]}}}}),
    )
}

#[tokio::test]
async fn simulated_merge_patch_status_subresource_and_replace_with_stale_version() {
    on_both(|_, client, _| async move {
        let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
        let created = jobs.create(&PostParams::default(), &job("default", "j")).await.unwrap();
        let spec = created.spec.clone().unwrap();
        assert_eq!(spec.backoff_limit, Some(6), "API defaults");
        let labels = spec.template.metadata.unwrap().labels.unwrap();
        assert_eq!(labels["batch.kubernetes.io/job-name"], "j");

        let patched = jobs.patch("j", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"annotations": {"note": "x"}}, "status": {"active": 9}}))).await.unwrap();
        assert_eq!(patched.metadata.annotations.unwrap()["note"], "x");
        assert_eq!(patched.status.and_then(|s| s.active), None, "the main endpoint ignores status");
        let st = jobs.patch_status("j", &PatchParams::default(), &Patch::Merge(json!({"status": {"active": 1}}))).await.unwrap();
        assert_eq!(st.status.unwrap().active, Some(1));
        let strategic = jobs.patch("j", &PatchParams::default(), &Patch::Strategic(json!({"metadata": {"labels": {"s": "1"}}}))).await.unwrap();
        assert_eq!(strategic.metadata.labels.unwrap()["s"], "1");
        assert_eq!(strategic.metadata.generation, Some(1), "metadata changes keep the generation");

        let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
        let lease: Lease = obj(json!({"metadata": {"name": "maestro-reaper"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}));
        let l1 = leases.create(&PostParams::default(), &lease).await.unwrap();
        let mut mine = l1.clone();
        mine.spec.as_mut().unwrap().holder_identity = Some("b".into());
        let l2 = leases.replace("maestro-reaper", &PostParams::default(), &mine).await.unwrap();
        assert_eq!(l2.spec.unwrap().holder_identity.as_deref(), Some("b"));
        let stale = api_error(leases.replace("maestro-reaper", &PostParams::default(), &l1).await);
        assert_eq!((stale.code, stale.reason.as_str()), (409, "Conflict"));
        assert!(stale.message.contains("the object has been modified"), "{}", stale.message);
    })
    .await;
}

#[tokio::test]
async fn simulated_validation_and_missing_namespace_errors() {
    on_both(|_, client, _| async move {
        let nss: Api<Namespace> = Api::all(client.clone());
        let bad: Namespace = obj(json!({"metadata": {"name": "Not_A_Label"}}));
        let err = api_error(nss.create(&PostParams::default(), &bad).await);
        assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
        assert!(
            err.message
                .starts_with("Namespace \"Not_A_Label\" is invalid: metadata.name"),
            "{}",
            err.message
        );
        let long: Namespace = obj(
            json!({"metadata": {"name": "ok", "labels": {"maestro.io/owner": "x".repeat(64)}}}),
        );
        assert_eq!(
            api_error(nss.create(&PostParams::default(), &long).await).code,
            422
        );

        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
        let err = api_error(
            cms.create(&PostParams::default(), &cm("a", json!({})))
                .await,
        );
        assert_eq!(
            (err.code, err.message.as_str()),
            (404, "namespaces \"nowhere\" not found")
        );
    })
    .await;
}

#[tokio::test]
async fn simulated_discovery_and_dynamic_objects() {
    on_both(|_, client, _| async move {
        let version = client.apiserver_version().await.unwrap();
        assert_eq!((version.major.as_str(), version.minor.as_str()), ("1", "33"));
        let gvk = kube::api::GroupVersionKind::gvk("batch", "v1", "Job");
        let (ar, caps) = kube::discovery::pinned_kind(&client, &gvk).await.unwrap();
        assert_eq!(ar.plural, "jobs");
        assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
        let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
        assert!(discovery.has_group("coordination.k8s.io"));

        // A dynamic apply through the discovered resource, as a renderer-driven apply would do.
        let cm_gvk = kube::api::GroupVersionKind::gvk("", "v1", "ConfigMap");
        let (cm_ar, _) = kube::discovery::pinned_kind(&client, &cm_gvk).await.unwrap();
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), "default", &cm_ar);
        let manifest: kube::api::DynamicObject = obj(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dyn"}, "data": {"a": "b"}}));
        api.patch("dyn", &PatchParams::apply("maestro").force(), &Patch::Apply(&manifest)).await.unwrap();
        let typed: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        assert_eq!(typed.get("dyn").await.unwrap().data.unwrap()["a"], "b");
    })
    .await;
}
