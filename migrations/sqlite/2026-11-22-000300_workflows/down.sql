DROP TABLE workflow_effects;
DROP TABLE workflow_audit;
DROP TABLE workflow_events;
DROP TABLE workflow_queue;
DROP TABLE workflow_step_runs;
DROP TABLE workflow_runs;
DROP TABLE workflow_versions;
DROP TABLE workflow_definitions;
