//! Profiles and client mappings through the API (issue 6): listing every
//! configured one, and creating, updating and deleting those the API owns.
//!
//! The API never writes the operator's configuration file. Its entries live
//! in the API policy file (`[api] policy_file`), which the configuration
//! loader reads after the main file. An edit renders the whole file,
//! replaces it atomically (temporary file, fsync, rename), and asks the main
//! loop to reload; if the reload refuses the result (an unknown feed, a
//! clash, a bad time zone), the previous file is put back and the problems
//! are returned, so a bad edit never reaches the running policy or a
//! restart.
//!
//! Entries of the main configuration file are listed but read-only here.

use crate::config::{
    BlockAnswerEntry, ClientEntry, OverrideEntry, PolicySection, ProfileEntry, ScheduleEntry,
    load_with_policy_text, render_policy_file, save_policy_file,
};
use crate::operations::Operations;
use hanse_api::BackendError;
use hanse_api::model::{
    BlockAnswer, ClientMapping, FeedOverride, FieldProblem, ProfileDocument, ScheduleWindow,
};
use hanse_policy::Prefix;
use std::str::FromStr;

fn entry_of(document: ProfileDocument) -> ProfileEntry {
    ProfileEntry {
        name: document.name,
        feeds: document.feeds,
        block_answer: document.block_answer.map(|answer| match answer {
            BlockAnswer::Mode(mode) => BlockAnswerEntry::Mode(mode),
            BlockAnswer::Addresses(addresses) => BlockAnswerEntry::Addresses(addresses),
        }),
        allowlist: document.allowlist,
        safe_search: document.safe_search,
        time_zone: document.time_zone,
        schedule: document
            .schedule
            .into_iter()
            .map(|window| ScheduleEntry {
                feed: window.feed,
                days: window.days,
                from: window.from,
                to: window.to,
            })
            .collect(),
        overrides: document
            .overrides
            .into_iter()
            .map(|entry| OverrideEntry {
                feed: entry.feed,
                action: entry.action,
                enabled: entry.enabled,
                log: entry.log,
                ede: entry.ede,
            })
            .collect(),
    }
}

fn document_of(entry: &ProfileEntry) -> ProfileDocument {
    ProfileDocument {
        name: entry.name.clone(),
        feeds: entry.feeds.clone(),
        block_answer: entry.block_answer.as_ref().map(|answer| match answer {
            BlockAnswerEntry::Mode(mode) => BlockAnswer::Mode(mode.clone()),
            BlockAnswerEntry::Addresses(addresses) => BlockAnswer::Addresses(addresses.clone()),
        }),
        allowlist: entry.allowlist.clone(),
        safe_search: entry.safe_search.clone(),
        time_zone: entry.time_zone.clone(),
        schedule: entry
            .schedule
            .iter()
            .map(|window| ScheduleWindow {
                feed: window.feed.clone(),
                days: window.days.clone(),
                from: window.from.clone(),
                to: window.to.clone(),
            })
            .collect(),
        overrides: entry
            .overrides
            .iter()
            .map(|entry| FeedOverride {
                feed: entry.feed.clone(),
                action: entry.action.clone(),
                enabled: entry.enabled,
                log: entry.log,
                ede: entry.ede.clone(),
            })
            .collect(),
    }
}

/// Every configured profile: the configuration file's, then the API's.
pub fn profiles(section: &PolicySection) -> Vec<ProfileDocument> {
    section
        .file_profiles
        .iter()
        .chain(&section.api_profiles)
        .map(document_of)
        .collect()
}

/// Every configured client mapping: the configuration file's, then the
/// API's.
pub fn clients(section: &PolicySection) -> Vec<ClientMapping> {
    section
        .file_clients
        .iter()
        .chain(&section.api_clients)
        .map(|entry| ClientMapping {
            cidr: entry.cidr.clone(),
            profile: entry.profile.clone(),
        })
        .collect()
}

/// The API's entries being edited, and the names the configuration file
/// holds (which the API may not take or change).
pub struct Entries {
    profiles: Vec<ProfileEntry>,
    clients: Vec<ClientEntry>,
    file_profiles: Vec<String>,
    file_clients: Vec<Prefix>,
}

fn invalid(field: &str, message: String) -> BackendError {
    BackendError::Invalid(vec![FieldProblem {
        field: field.to_owned(),
        message,
    }])
}

fn network(cidr: &str) -> Result<Prefix, BackendError> {
    Prefix::from_str(cidr).map_err(|error| invalid("cidr", format!("{cidr:?}: {error}")))
}

impl Entries {
    fn read_only(what: &str) -> BackendError {
        invalid(
            "name",
            format!(
                "{what} is defined in the configuration file and cannot be changed through the API"
            ),
        )
    }

    pub fn create_profile(&mut self, document: ProfileDocument) -> Result<(), BackendError> {
        if self.file_profiles.contains(&document.name)
            || self
                .profiles
                .iter()
                .any(|entry| entry.name == document.name)
        {
            return Err(BackendError::Exists(format!("profile {}", document.name)));
        }
        self.profiles.push(entry_of(document));
        Ok(())
    }

    pub fn update_profile(
        &mut self,
        name: &str,
        document: ProfileDocument,
    ) -> Result<(), BackendError> {
        if document.name != name {
            return Err(invalid(
                "name",
                format!(
                    "the body names profile {:?}, the path {name:?}",
                    document.name
                ),
            ));
        }
        if self.file_profiles.iter().any(|file| file == name) {
            return Err(Entries::read_only(&format!("profile {name}")));
        }
        let entry = self
            .profiles
            .iter_mut()
            .find(|entry| entry.name == name)
            .ok_or_else(|| BackendError::NotFound(format!("profile {name}")))?;
        *entry = entry_of(document);
        Ok(())
    }

    pub fn delete_profile(&mut self, name: &str) -> Result<(), BackendError> {
        if self.file_profiles.iter().any(|file| file == name) {
            return Err(Entries::read_only(&format!("profile {name}")));
        }
        let before = self.profiles.len();
        self.profiles.retain(|entry| entry.name != name);
        if self.profiles.len() == before {
            return Err(BackendError::NotFound(format!("profile {name}")));
        }
        Ok(())
    }

    fn position(&self, prefix: Prefix) -> Option<usize> {
        self.clients
            .iter()
            .position(|entry| Prefix::from_str(&entry.cidr).is_ok_and(|held| held == prefix))
    }

    pub fn create_client(&mut self, mapping: ClientMapping) -> Result<(), BackendError> {
        let prefix = network(&mapping.cidr)?;
        if self.file_clients.contains(&prefix) || self.position(prefix).is_some() {
            return Err(BackendError::Exists(format!("client mapping {prefix}")));
        }
        self.clients.push(ClientEntry {
            cidr: prefix.to_string(),
            profile: mapping.profile,
        });
        Ok(())
    }

    pub fn update_client(
        &mut self,
        cidr: &str,
        mapping: ClientMapping,
    ) -> Result<(), BackendError> {
        let prefix = network(cidr)?;
        if network(&mapping.cidr)? != prefix {
            return Err(invalid(
                "cidr",
                format!("the body maps {}, the path {cidr}", mapping.cidr),
            ));
        }
        if self.file_clients.contains(&prefix) {
            return Err(Entries::read_only(&format!("client mapping {prefix}")));
        }
        let index = self
            .position(prefix)
            .ok_or_else(|| BackendError::NotFound(format!("client mapping {prefix}")))?;
        self.clients[index].profile = mapping.profile;
        Ok(())
    }

    pub fn delete_client(&mut self, cidr: &str) -> Result<(), BackendError> {
        let prefix = network(cidr)?;
        if self.file_clients.contains(&prefix) {
            return Err(Entries::read_only(&format!("client mapping {prefix}")));
        }
        let index = self
            .position(prefix)
            .ok_or_else(|| BackendError::NotFound(format!("client mapping {prefix}")))?;
        self.clients.remove(index);
        Ok(())
    }
}

/// Applies `change` to the API's entries, saves the policy file and
/// reloads; puts the previous file back if the reload refuses it.
pub fn edit(
    operations: &Operations,
    change: impl FnOnce(&mut Entries) -> Result<(), BackendError>,
) -> Result<(), BackendError> {
    let _serialised = operations
        .edit_lock
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    let view = operations.policy.load();
    let path = view.policy_file.clone().ok_or_else(|| {
        BackendError::Unavailable(
            "no API policy file: Hanse runs without a configuration file".to_owned(),
        )
    })?;
    let section = &view.section;
    let mut entries = Entries {
        profiles: section.api_profiles.clone(),
        clients: section.api_clients.clone(),
        file_profiles: section
            .file_profiles
            .iter()
            .map(|entry| entry.name.clone())
            .collect(),
        file_clients: section
            .file_clients
            .iter()
            .filter_map(|entry| Prefix::from_str(&entry.cidr).ok())
            .collect(),
    };
    change(&mut entries)?;
    let text = render_policy_file(&entries.profiles, &entries.clients).map_err(|error| {
        BackendError::Internal(format!("cannot render the policy file: {error}"))
    })?;
    // Checked against the configuration before anything is written.
    if let Some(config_path) = &view.config_path
        && let Err(problems) = load_with_policy_text(config_path, &text)
    {
        return Err(BackendError::Invalid(
            problems
                .iter()
                .map(|problem| FieldProblem {
                    field: "policy".to_owned(),
                    message: problem.to_string(),
                })
                .collect(),
        ));
    }
    let previous = std::fs::read(&path).ok();
    save_policy_file(&path, &text).map_err(|error| {
        BackendError::Unavailable(format!("cannot write {}: {error}", path.display()))
    })?;
    match operations.reload_through_main_loop() {
        Ok(()) => Ok(()),
        Err(problems) => {
            let restored = match previous {
                Some(bytes) => save_policy_file(&path, &String::from_utf8_lossy(&bytes)),
                None => std::fs::remove_file(&path),
            };
            if let Err(error) = restored {
                tracing::error!(
                    "the API policy file {} was refused and cannot be restored: {error}",
                    path.display()
                );
            }
            Err(BackendError::Invalid(
                problems
                    .into_iter()
                    .map(|message| FieldProblem {
                        field: "policy".to_owned(),
                        message,
                    })
                    .collect(),
            ))
        }
    }
}
