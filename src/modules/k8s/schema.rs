//! The k8s module's tables.

diesel::table! {
    k8s_environments (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        namespace -> Text,
        owner_id -> Text,
        spec -> Text,
        phase -> Text,
        reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        expires_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        run_id -> Nullable<Text>,
    }
}

diesel::table! {
    k8s_leases (name) {
        name -> Text,
        holder -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    k8s_jobs (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        environment_id -> Text,
        name -> Text,
        spec -> Text,
        status -> Text,
        reason -> Nullable<Text>,
        exit_code -> Nullable<BigInt>,
        results -> Nullable<Text>,
        log -> Nullable<Text>,
        log_truncated -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}
