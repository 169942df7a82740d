DROP TABLE k8s_leases;
DROP TABLE k8s_environments;
