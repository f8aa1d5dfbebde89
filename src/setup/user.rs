//! User stage: resolve `docker:user`-style specs against /etc/passwd and
//! /etc/group.

use super::Cred;
use crate::error::{Error, Result, Stage};

pub fn resolve(spec: Option<&str>) -> Result<Option<Cred>> {
    match spec {
        None => Ok(None),
        Some(s) => Err(Error::new(Stage::User, format!("cannot resolve user {:?} yet", s))),
    }
}
