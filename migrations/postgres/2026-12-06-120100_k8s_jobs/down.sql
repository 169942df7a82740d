DROP TABLE k8s_jobs;
