//! The resource types the fake serves (group, version, kind, plural, scope) and the parsing of
//! request paths (`/api/v1/namespaces/{ns}/{plural}/{name}/{sub}`, `/apis/{group}/{v}/…`) into a
//! [`Target`].

/// One served resource type. Both Event flavours (core/v1 and events.k8s.io/v1) share one
/// storage (`store`), as on a real cluster.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceType {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    /// Has a `status` subresource: writes to the main endpoint keep the stored status.
    pub status_subresource: bool,
    /// Storage id; objects of types with the same id are the same objects.
    pub store: &'static str,
    /// Short names shown in discovery.
    pub short_names: &'static [&'static str],
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods`, `jobs.batch`: how the API names the resource in messages.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Whether a change to `spec` bumps `metadata.generation` (everything with a spec).
    pub fn tracks_generation(&self) -> bool {
        !matches!(
            self.kind,
            "Secret" | "ConfigMap" | "Event" | "Namespace" | "ServiceAccount" | "Endpoints"
        )
    }

    pub fn is(&self, group: &str, kind: &str) -> bool {
        self.group == group && self.kind == kind
    }
}

macro_rules! rt {
    ($group:literal, $version:literal, $kind:literal, $plural:literal, $ns:literal, $status:literal, $store:literal, [$($short:literal),*]) => {
        ResourceType {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            namespaced: $ns,
            status_subresource: $status,
            store: $store,
            short_names: &[$($short),*],
        }
    };
}

pub static RESOURCES: &[ResourceType] = &[
    rt!(
        "",
        "v1",
        "Namespace",
        "namespaces",
        false,
        true,
        "namespaces",
        ["ns"]
    ),
    rt!("", "v1", "Node", "nodes", false, true, "nodes", ["no"]),
    rt!("", "v1", "Pod", "pods", true, true, "pods", ["po"]),
    rt!(
        "",
        "v1",
        "Service",
        "services",
        true,
        true,
        "services",
        ["svc"]
    ),
    rt!(
        "",
        "v1",
        "Endpoints",
        "endpoints",
        true,
        false,
        "endpoints",
        ["ep"]
    ),
    rt!("", "v1", "Secret", "secrets", true, false, "secrets", []),
    rt!(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        true,
        false,
        "configmaps",
        ["cm"]
    ),
    rt!(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        true,
        false,
        "serviceaccounts",
        ["sa"]
    ),
    rt!(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        true,
        true,
        "resourcequotas",
        ["quota"]
    ),
    rt!(
        "",
        "v1",
        "LimitRange",
        "limitranges",
        true,
        false,
        "limitranges",
        ["limits"]
    ),
    rt!(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        true,
        "persistentvolumeclaims",
        ["pvc"]
    ),
    rt!("", "v1", "Event", "events", true, false, "events", ["ev"]),
    rt!(
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        true,
        false,
        "events",
        ["ev"]
    ),
    rt!(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        true,
        true,
        "deployments.apps",
        ["deploy"]
    ),
    rt!(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        true,
        true,
        "replicasets.apps",
        ["rs"]
    ),
    rt!(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        true,
        true,
        "statefulsets.apps",
        ["sts"]
    ),
    rt!("batch", "v1", "Job", "jobs", true, true, "jobs.batch", []),
    rt!(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
        false,
        "networkpolicies.networking.k8s.io",
        ["netpol"]
    ),
    rt!(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        true,
        false,
        "leases.coordination.k8s.io",
        []
    ),
];

/// The served type for `apiVersion` + `kind` (as written in an object).
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// The served type for a group/version/plural (as written in a path).
pub fn by_plural(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The types that share a storage id, preferring the core flavour (used for events).
pub fn primary_for_store(store: &str) -> &'static ResourceType {
    RESOURCES
        .iter()
        .find(|r| r.store == store)
        .expect("every store id comes from RESOURCES")
}

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/version`
    Version,
    /// `/api`, `/apis`, `/api/v1`, `/apis/{g}/{v}`: discovery documents.
    Discovery {
        group: Option<String>,
        version: Option<String>,
    },
    /// A collection (`name` None) or one object, optionally a subresource.
    Resource {
        rt: &'static ResourceType,
        namespace: Option<String>,
        name: Option<String>,
        sub: Option<String>,
    },
}

/// Why a path was not understood (becomes a 404 `NotFound` Status).
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownPath;

pub fn parse_path(path: &str) -> Result<Target, UnknownPath> {
    let segs: Vec<&str> = path
        .trim_end_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["version"] => return Ok(Target::Version),
        ["api"] => {
            return Ok(Target::Discovery {
                group: Some(String::new()),
                version: None,
            });
        }
        ["apis"] => {
            return Ok(Target::Discovery {
                group: None,
                version: None,
            });
        }
        ["api", v] => {
            return Ok(Target::Discovery {
                group: Some(String::new()),
                version: Some(v.to_string()),
            });
        }
        ["apis", g] => {
            return Ok(Target::Discovery {
                group: Some(g.to_string()),
                version: None,
            });
        }
        ["apis", g, v] => {
            return Ok(Target::Discovery {
                group: Some(g.to_string()),
                version: Some(v.to_string()),
            });
        }
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(UnknownPath),
    };
    let find = |plural: &str| by_plural(group, version, plural).ok_or(UnknownPath);
    let s = |x: &&str| Some(x.to_string());
    let target = match rest {
        // `namespaces/{ns}/{plural}…` when the third segment is a namespaced plural.
        ["namespaces", ns, plural, more @ ..]
            if by_plural(group, version, plural).is_some_and(|r| r.namespaced) =>
        {
            let rt = find(plural)?;
            match more {
                [] => (rt, s(ns), None, None),
                [name] => (rt, s(ns), s(name), None),
                [name, sub] => (rt, s(ns), s(name), s(sub)),
                _ => return Err(UnknownPath),
            }
        }
        [plural] => (find(plural)?, None, None, None),
        [plural, name] => {
            let rt = find(plural)?;
            if rt.namespaced {
                return Err(UnknownPath);
            }
            (rt, None, s(name), None)
        }
        [plural, name, sub] => {
            let rt = find(plural)?;
            if rt.namespaced {
                return Err(UnknownPath);
            }
            (rt, None, s(name), s(sub))
        }
        _ => return Err(UnknownPath),
    };
    let (rt, namespace, name, sub) = target;
    Ok(Target::Resource {
        rt,
        namespace,
        name,
        sub,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> (&'static str, Option<String>, Option<String>, Option<String>) {
        match parse_path(path).unwrap() {
            Target::Resource {
                rt,
                namespace,
                name,
                sub,
            } => (rt.kind, namespace, name, sub),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_core_and_group_paths() {
        assert_eq!(
            res("/api/v1/namespaces/a/pods/p/log"),
            (
                "Pod",
                Some("a".into()),
                Some("p".into()),
                Some("log".into())
            )
        );
        assert_eq!(res("/api/v1/pods"), ("Pod", None, None, None));
        assert_eq!(
            res("/api/v1/namespaces/a"),
            ("Namespace", None, Some("a".into()), None)
        );
        assert_eq!(
            res("/api/v1/namespaces/a/status"),
            ("Namespace", None, Some("a".into()), Some("status".into()))
        );
        assert_eq!(
            res("/apis/batch/v1/namespaces/x/jobs"),
            ("Job", Some("x".into()), None, None)
        );
        assert_eq!(res("/api/v1/namespaces"), ("Namespace", None, None, None));
        assert_eq!(parse_path("/apis/batch/v9/jobs"), Err(UnknownPath));
        assert_eq!(parse_path("/api/v1/pods/p"), Err(UnknownPath));
        assert_eq!(parse_path("/version").unwrap(), Target::Version);
    }
}
