//! The prompt corpus as a golden test: every case of the development part compiles to the
//! workflow it expects, the corpus files are well formed, and the matcher itself fails a
//! workflow that is wrong (so a pass means something). The held-out part is only scored, by the
//! prompt_eval bench, never asserted: a test on it would be tuned on.
#![allow(clippy::unwrap_used)]

use agent_runtime::workflow::{FieldKind, WorkflowError, compile};
use ringback_benches::prompts::{self, Case};
use std::collections::HashSet;

fn failures(cases: &[Case]) -> Vec<String> {
    cases
        .iter()
        .filter_map(|case| {
            let problems = prompts::check(case, &compile(&case.prompt));
            (!problems.is_empty()).then(|| format!("{}: {}", case.id, problems.join("; ")))
        })
        .collect()
}

#[test]
fn every_development_prompt_compiles_to_its_workflow() {
    let cases = prompts::load("dev").unwrap();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let failed = failures(&cases);
    assert!(
        failed.is_empty(),
        "{} of {} differ:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

#[test]
fn the_corpus_files_are_well_formed() {
    let mut ids = HashSet::new();
    for part in ["dev", "dev2", "dev3", "dev4", "dev5", "heldout"] {
        for case in prompts::load(part).unwrap() {
            assert!(ids.insert(case.id.clone()), "duplicate id {}", case.id);
            assert!(!case.prompt.trim().is_empty(), "{}", case.id);
            assert!(
                case.refused.is_some()
                    || !case.field.is_empty()
                    || case.message.is_some()
                    || case.ivr_target.is_some(),
                "{} expects nothing",
                case.id
            );
        }
    }
}

#[test]
fn the_matcher_rejects_wrong_workflows() {
    let cases = prompts::load("dev").unwrap();
    let case = cases.iter().find(|c| c.id == "ref-sarah-kim").unwrap();
    let right = compile(&case.prompt);
    assert!(prompts::check(case, &right).is_empty());

    let mut missing_field = right.as_ref().unwrap().clone();
    missing_field.steps.pop();
    assert!(!prompts::check(case, &Ok(missing_field)).is_empty());

    let mut wrong_kind = right.as_ref().unwrap().clone();
    wrong_kind.steps[0].field.kind = FieldKind::Text;
    assert!(!prompts::check(case, &Ok(wrong_kind)).is_empty());

    let mut wrong_options = right.as_ref().unwrap().clone();
    wrong_options.steps[1].field.kind = FieldKind::Choice {
        options: vec!["Monday".into(), "Tuesday".into()],
    };
    assert!(!prompts::check(case, &Ok(wrong_options)).is_empty());

    let mut no_branch = right.as_ref().unwrap().clone();
    no_branch.steps[1].when = None;
    assert!(!prompts::check(case, &Ok(no_branch)).is_empty());

    let mut no_callee = right.as_ref().unwrap().clone();
    no_callee.callee = None;
    assert!(!prompts::check(case, &Ok(no_callee)).is_empty());

    assert!(!prompts::check(case, &Err(WorkflowError::TooVague)).is_empty());
}
