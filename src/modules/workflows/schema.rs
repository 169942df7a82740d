//! The workflows module's tables (portable column types only).

diesel::table! {
    workflow_definitions (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        latest_version -> BigInt,
        paused -> Bool,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    workflow_versions (workflow_id, version) {
        workflow_id -> Text,
        version -> BigInt,
        tenant_id -> Text,
        definition -> Text,
        checksum -> Text,
        step_count -> BigInt,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    workflow_runs (id) {
        id -> Text,
        tenant_id -> Text,
        workflow_id -> Text,
        version -> BigInt,
        status -> Text,
        pause_reason -> Nullable<Text>,
        inputs -> Text,
        outputs -> Nullable<Text>,
        error -> Nullable<Text>,
        failed_step -> Nullable<Text>,
        actor -> Text,
        idempotency_key -> Nullable<Text>,
        request_hash -> Text,
        trace_parent -> Nullable<Text>,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        deadline_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
        audit_seq -> BigInt,
        audit_hash -> Text,
    }
}

diesel::table! {
    workflow_step_runs (run_id, step_id) {
        run_id -> Text,
        step_id -> Text,
        tenant_id -> Text,
        position -> BigInt,
        uses -> Text,
        status -> Text,
        attempts -> BigInt,
        budget_start -> BigInt,
        inputs -> Nullable<Text>,
        outputs -> Nullable<Text>,
        error -> Nullable<Text>,
        attempt_log -> Text,
        wake_at -> Nullable<Timestamp>,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    workflow_queue (id) {
        id -> BigInt,
        tenant_id -> Text,
        run_id -> Text,
        step_id -> Text,
        kind -> Text,
        ready_at -> Timestamp,
        held -> Bool,
        lease_owner -> Nullable<Text>,
        lease_token -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        enqueued_at -> Timestamp,
    }
}

diesel::table! {
    workflow_events (id) {
        id -> Text,
        tenant_id -> Text,
        run_id -> Text,
        name -> Text,
        payload -> Text,
        source -> Text,
        received_at -> Timestamp,
        consumed_by -> Nullable<Text>,
    }
}

diesel::table! {
    workflow_audit (run_id, seq) {
        run_id -> Text,
        seq -> BigInt,
        tenant_id -> Text,
        at -> Timestamp,
        event -> Text,
        from_status -> Nullable<Text>,
        to_status -> Nullable<Text>,
        step_id -> Nullable<Text>,
        actor -> Text,
        detail -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    workflow_effects (run_id, step_id) {
        run_id -> Text,
        step_id -> Text,
        tenant_id -> Text,
        executions -> BigInt,
        first_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    workflow_definitions,
    workflow_versions,
    workflow_runs,
    workflow_step_runs,
    workflow_queue,
    workflow_events,
    workflow_audit,
    workflow_effects,
);
