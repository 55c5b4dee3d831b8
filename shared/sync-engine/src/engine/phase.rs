//! The phases of a run and their names in the checkpoint.

/// The phases of a run, in order. Stored in the checkpoint by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Groups,
    Agents,
    Threats,
    /// The application-vulnerability walk (one per resolved group), then fixing by absence after a complete one.
    Vulnerabilities,
    /// Re-examines the unattached findings: those whose asset exists now are attached.
    Attach,
    Finalize,
    /// Only when the verdict list changed: re-derives stored findings' statuses under the current list.
    Reevaluate,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Groups => "groups",
            Phase::Agents => "agents",
            Phase::Threats => "threats",
            Phase::Vulnerabilities => "vulnerabilities",
            Phase::Attach => "attach",
            Phase::Finalize => "finalize",
            Phase::Reevaluate => "reevaluate",
        }
    }

    /// `None` for a name this version does not know: a checkpoint it cannot continue.
    pub fn parse(name: &str) -> Option<Phase> {
        [
            Phase::Groups,
            Phase::Agents,
            Phase::Threats,
            Phase::Vulnerabilities,
            Phase::Attach,
            Phase::Finalize,
            Phase::Reevaluate,
        ]
        .into_iter()
        .find(|p| p.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_round_trip_and_unknown_names_are_refused() {
        for p in [
            Phase::Groups,
            Phase::Agents,
            Phase::Threats,
            Phase::Vulnerabilities,
            Phase::Attach,
            Phase::Finalize,
            Phase::Reevaluate,
        ] {
            assert_eq!(Phase::parse(p.as_str()), Some(p));
        }
        assert_eq!(Phase::parse("reticulate"), None);
    }
}
