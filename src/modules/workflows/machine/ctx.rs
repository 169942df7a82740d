//! A run loaded (and locked) for one transaction: its row, its definition, and the step rows a
//! transition needs, loaded on demand through [`RunStore`].

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{MachineError, RunStore};
use crate::modules::workflows::definition::Definition;
use crate::modules::workflows::model::{RunStatus, StepStatus};
use crate::modules::workflows::store::{RunRow, StepRunRow};
use crate::platform::auth::{AuthSource, Principal, Role, TenantId};

/// A run's step rows, indexed like `def.steps`, loaded on demand: a transition reads only the
/// rows it needs (the finished step, its dependents and their needs), so a step of a long
/// sequential run costs the same as a step of a short one.
pub struct Slots(Vec<Option<StepRunRow>>);

impl Slots {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_loaded(&self, i: usize) -> bool {
        self.0.get(i).is_some_and(Option::is_some)
    }

    pub(super) fn all_loaded(&self) -> bool {
        self.0.iter().all(Option::is_some)
    }

    pub(super) fn loaded(&self) -> impl Iterator<Item = &StepRunRow> {
        self.0.iter().flatten()
    }

    pub fn fill(&mut self, i: usize, row: StepRunRow) {
        if let Some(slot) = self.0.get_mut(i)
            && slot.is_none()
        {
            *slot = Some(row);
        }
    }
}

impl std::ops::Index<usize> for Slots {
    type Output = StepRunRow;
    fn index(&self, i: usize) -> &StepRunRow {
        // Invariant: transitions call `RunCtx::ensure` before touching a row.
        self.0[i]
            .as_ref()
            .expect("step row used before it was loaded")
    }
}

impl std::ops::IndexMut<usize> for Slots {
    fn index_mut(&mut self, i: usize) -> &mut StepRunRow {
        self.0[i]
            .as_mut()
            .expect("step row used before it was loaded")
    }
}

/// A run loaded (and locked) for a transaction.
pub struct RunCtx {
    pub run: RunRow,
    pub def: Arc<Definition>,
    pub steps: Slots,
    pub(super) run_dirty: bool,
    pub(super) dirty: BTreeSet<usize>,
    /// The run's queue rows are to be deleted (it stopped), before any inserts.
    pub(super) clear_queue: bool,
    pub(super) hold: Option<bool>,
}

impl RunCtx {
    /// Pairs (some of) the run's rows with the definition; `None` if a row does not belong to
    /// it (a corrupted run).
    pub fn new(run: RunRow, def: Arc<Definition>, rows: Vec<StepRunRow>) -> Option<RunCtx> {
        let mut slots: Vec<Option<StepRunRow>> = vec![None; def.steps.len()];
        for row in rows {
            let i = *def.index.get(&row.step_id)?;
            slots[i] = Some(row);
        }
        Some(RunCtx {
            run,
            def,
            steps: Slots(slots),
            run_dirty: false,
            dirty: BTreeSet::new(),
            clear_queue: false,
            hold: None,
        })
    }

    pub fn status(&self) -> RunStatus {
        self.run.run_status()
    }

    /// Loads the given step rows if they are not loaded yet.
    pub fn ensure(
        &mut self,
        store: &mut dyn RunStore,
        indices: &[usize],
    ) -> Result<(), MachineError> {
        let missing: Vec<String> = indices
            .iter()
            .filter(|&&i| i < self.steps.len() && !self.steps.is_loaded(i))
            .map(|&i| self.def.steps[i].id.clone())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let rows = store.step_rows(&self.run.id, &missing)?;
        self.absorb(rows);
        if indices
            .iter()
            .all(|&i| i >= self.steps.len() || self.steps.is_loaded(i))
        {
            Ok(())
        } else {
            Err(MachineError::MissingRows {
                run_id: self.run.id.clone(),
                steps: missing,
            })
        }
    }

    pub fn ensure_all(&mut self, store: &mut dyn RunStore) -> Result<(), MachineError> {
        if self.steps.all_loaded() {
            return Ok(());
        }
        let all: Vec<usize> = (0..self.steps.len()).collect();
        self.ensure(store, &all)
    }

    /// Takes rows fetched elsewhere (batch prefetch); rows already loaded are kept.
    pub fn absorb(&mut self, rows: Vec<StepRunRow>) {
        for row in rows {
            if let Some(&i) = self.def.index.get(&row.step_id) {
                self.steps.fill(i, row);
            }
        }
    }

    pub fn index(&self, step_id: &str) -> Option<usize> {
        self.def.index.get(step_id).copied()
    }

    pub(super) fn step_status(&self, i: usize) -> StepStatus {
        self.steps[i].step_status()
    }

    pub(super) fn set_step_status(&mut self, i: usize, status: StepStatus) {
        self.steps[i].status = status.as_str().to_string();
        self.dirty.insert(i);
    }

    /// The `${{ … }}` context: inputs, finished steps and the run.
    pub fn expression_context(&self) -> Value {
        let mut steps = Map::new();
        for row in self.steps.loaded() {
            let status = row.step_status();
            let outputs = row
                .outputs
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_else(|| json!({}));
            steps.insert(
                row.step_id.clone(),
                json!({
                    "outputs": outputs,
                    "status": status.as_str(),
                    "attempts": row.attempts,
                    "error": row.error,
                }),
            );
        }
        json!({
            "inputs": serde_json::from_str::<Value>(&self.run.inputs).unwrap_or_else(|_| json!({})),
            "steps": steps,
            "run": {"id": self.run.id, "workflow_id": self.run.workflow_id, "version": self.run.version},
        })
    }

    pub(super) fn actor_principal(&self) -> Principal {
        serde_json::from_str(&self.run.actor).unwrap_or_else(|_| Principal {
            user_id: "unknown".into(),
            tenant_id: TenantId(self.run.tenant_id.clone()),
            email: None,
            role: Role::Viewer,
            source: AuthSource::Local,
        })
    }
}
