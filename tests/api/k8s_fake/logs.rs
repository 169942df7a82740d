//! Pod logs: 400 "waiting to start" before the container runs, a followed stream that delivers
//! lines while the container runs and ends when it exits, timestamps, tailLines, sinceTime.

use std::time::Duration;

use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, LogParams, PostParams};
use serde_json::json;

use super::{api_error, obj, on_both};
use crate::support::k8s_fake::Script;

fn pod(name: &str, image: &str) -> Pod {
    obj(
        json!({"metadata": {"name": name}, "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": image}]}}),
    )
}

#[tokio::test]
async fn simulated_logs_stream_while_running_and_end_at_exit() {
    on_both(|cluster, client, _| async move {
        cluster.script_image(
            "runner:1",
            Script::new()
                .log("a")
                .log("b")
                .wait_for("finish")
                .log("c")
                .exit(0),
        );
        cluster.script_image(
            "slow:1",
            Script::new().start_after(Duration::from_secs(24 * 3600)),
        );
        let nss: Api<Namespace> = Api::all(client.clone());
        nss.create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "env-l"}})),
        )
        .await
        .unwrap();
        let pods: Api<Pod> = Api::namespaced(client.clone(), "env-l");

        pods.create(&PostParams::default(), &pod("slow", "slow:1"))
            .await
            .unwrap();
        let err = api_error(pods.logs("slow", &LogParams::default()).await);
        assert_eq!(
            (err.code, err.message.as_str()),
            (
                400,
                "container \"main\" in pod \"slow\" is waiting to start: ContainerCreating"
            )
        );

        pods.create(&PostParams::default(), &pod("runner", "runner:1"))
            .await
            .unwrap();
        cluster
            .wait_until("the runner to log two lines", |c| {
                (c.logs_of("env-l", "runner", "main").len() == 2).then_some(())
            })
            .await;
        let follow = LogParams {
            follow: true,
            ..LogParams::default()
        };
        let mut lines = pods
            .log_stream("runner", &follow)
            .await
            .unwrap()
            .lines()
            .boxed();
        assert_eq!(lines.next().await.unwrap().unwrap(), "a");
        assert_eq!(lines.next().await.unwrap().unwrap(), "b");
        let running = pods.get("runner").await.unwrap();
        assert_eq!(
            running.status.unwrap().phase.as_deref(),
            Some("Running"),
            "still running while the stream is open"
        );
        cluster.open_gate("finish");
        assert_eq!(lines.next().await.unwrap().unwrap(), "c");
        assert!(
            lines.next().await.is_none(),
            "the stream ends when the container exits"
        );
        cluster
            .wait_for::<Pod>("env-l", "runner", |p| {
                p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded")
            })
            .await;

        let stamped = pods
            .logs(
                "runner",
                &LogParams {
                    timestamps: true,
                    ..LogParams::default()
                },
            )
            .await
            .unwrap();
        let first = stamped.lines().next().unwrap();
        let (ts, text) = first.split_once(' ').unwrap();
        assert_eq!(text, "a");
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
        let tail = pods
            .logs(
                "runner",
                &LogParams {
                    tail_lines: Some(1),
                    ..LogParams::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(tail, "c\n");
        let future =
            k8s_openapi::jiff::Timestamp::now() + k8s_openapi::jiff::SignedDuration::from_hours(1);
        let none = pods
            .logs(
                "runner",
                &LogParams {
                    since_time: Some(future),
                    ..LogParams::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(none, "");
        let past =
            k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_hours(1);
        let all = pods
            .logs(
                "runner",
                &LogParams {
                    since_time: Some(past),
                    ..LogParams::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(all, "a\nb\nc\n");
    })
    .await;
}

#[tokio::test]
async fn simulated_logs_of_a_deleted_pod_are_gone() {
    on_both(|cluster, client, _| async move {
        cluster.script_image("talker:1", Script::new().log("hello"));
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        pods.create(&PostParams::default(), &pod("talker", "talker:1"))
            .await
            .unwrap();
        cluster
            .wait_until("a log line", |c| {
                (!c.logs_of("default", "talker", "main").is_empty()).then_some(())
            })
            .await;
        let mut lines = pods
            .log_stream(
                "talker",
                &LogParams {
                    follow: true,
                    ..LogParams::default()
                },
            )
            .await
            .unwrap()
            .lines()
            .boxed();
        assert_eq!(lines.next().await.unwrap().unwrap(), "hello");
        pods.delete("talker", &Default::default()).await.unwrap();
        assert!(
            lines.next().await.is_none(),
            "a followed stream ends when the pod goes"
        );
        assert_eq!(
            api_error(pods.logs("talker", &LogParams::default()).await).code,
            404
        );
    })
    .await;
}
