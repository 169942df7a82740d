//! Namespace deletion: Terminating with a deletionTimestamp, content cascaded, a second DELETE is
//! 409 while it lingers, creates inside are 403 with the real message, then 404 once it is gone.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

use super::{api_error, obj, on_both};
use crate::support::k8s_fake::Linger;

#[tokio::test]
async fn simulated_namespace_delete_twice_during_linger_is_409_then_404_later() {
    on_both(|cluster, client, _| async move {
        cluster.configure(|k| k.namespace_linger = Linger::UntilReleased);
        let nss: Api<Namespace> = Api::all(client.clone());
        nss.create(&PostParams::default(), &obj(json!({"metadata": {"name": "env-1"}}))).await.unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "env-1");
        cms.create(&PostParams::default(), &obj(json!({"metadata": {"name": "c"}}))).await.unwrap();

        let first = nss.delete("env-1", &DeleteParams::background()).await.unwrap();
        let ns = first.left().expect("a namespace DELETE answers the namespace");
        assert!(ns.metadata.deletion_timestamp.is_some());
        assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));

        let second = api_error(nss.delete("env-1", &DeleteParams::background()).await);
        assert_eq!((second.code, second.reason.as_str()), (409, "Conflict"));
        assert_eq!(second.message, "Operation cannot be fulfilled on namespaces \"env-1\": The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.");

        let refused = api_error(cms.create(&PostParams::default(), &obj(json!({"metadata": {"name": "d"}}))).await);
        assert_eq!((refused.code, refused.reason.as_str()), (403, "Forbidden"));
        assert_eq!(refused.message, "configmaps \"d\" is forbidden: unable to create new content in namespace env-1 because it is being terminated");

        cluster.wait_for_gone::<ConfigMap>("env-1", "c").await;
        let stuck = cluster
            .wait_for::<Namespace>("", "env-1", |n| n.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some())
            .await;
        let conditions = stuck.status.unwrap().conditions.unwrap();
        assert!(conditions.iter().any(|c| c.type_ == "NamespaceFinalizersRemaining" && c.status == "True"));
        assert!(nss.get("env-1").await.is_ok(), "still there while it lingers");

        cluster.release_namespace("env-1");
        cluster.wait_for_gone::<Namespace>("", "env-1").await;
        let gone = api_error(nss.delete("env-1", &DeleteParams::background()).await);
        assert_eq!(gone.code, 404);
    })
    .await;
}

#[tokio::test]
async fn simulated_namespace_delete_cascades_and_goes_without_linger() {
    on_both(|cluster, client, _| async move {
        let nss: Api<Namespace> = Api::all(client.clone());
        nss.create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "env-2"}})),
        )
        .await
        .unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "env-2");
        for n in ["a", "b"] {
            cms.create(
                &PostParams::default(),
                &obj(json!({"metadata": {"name": n}})),
            )
            .await
            .unwrap();
        }
        nss.delete("env-2", &DeleteParams::default()).await.unwrap();
        cluster.wait_for_gone::<Namespace>("", "env-2").await;
        assert!(cluster.list::<ConfigMap>(Some("env-2")).is_empty());
        let deleted: Vec<_> = cluster
            .history::<ConfigMap>()
            .into_iter()
            .filter(|(k, _, _)| k == "DELETED")
            .collect();
        assert_eq!(deleted.len(), 2);
        assert_eq!(api_error(nss.get("env-2").await).code, 404);
    })
    .await;
}
