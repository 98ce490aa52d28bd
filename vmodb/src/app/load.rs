//! The initial data: every service's store built from the application and loaded at TID 0,
//! before any transaction (embedded, in a service process, and in serial replay).

use crate::app::App;
use crate::model::error::BootstrapError;
use crate::model::schema::Entity;
use crate::storage::store::Store;
use crate::storage::tx::{Access, TxCtx, TxEnv};
use std::sync::Arc;

/// Initial data, loaded at TID 0 before the cluster takes transactions (also used by replay).
pub struct Loader<'a> {
    app: &'a App,
    stores: &'a [Arc<Store>],
    /// In a service process, the one service loaded here (its store is `stores[0]`); rows for
    /// every other service are skipped, since their own processes load them.
    only: Option<usize>,
}

impl Loader<'_> {
    /// Inserts rows into service `service`'s table of `E`; constraints and foreign keys apply.
    pub fn insert<E: Entity>(
        &self,
        service: &str,
        rows: impl IntoIterator<Item = E>,
    ) -> Result<(), BootstrapError> {
        let i = self
            .app
            .service_index(service)
            .ok_or_else(|| BootstrapError(format!("load: unknown service `{service}`")))?;
        let store = match self.only {
            None => &self.stores[i],
            Some(only) if only == i => &self.stores[0],
            Some(_) => return Ok(()),
        };
        let replicas: Vec<String> = store
            .tables()
            .iter()
            .map(|t| t.name().to_string())
            .collect();
        let ctx = TxCtx::new(
            store,
            TxEnv {
                tid: 0,
                timestamp_us: 0,
                seed: 0,
            },
            Access::ReadWrite,
            &replicas,
        );
        let table = ctx
            .table::<E>()
            .map_err(|e| BootstrapError(format!("load into `{service}`: {e}")))?;
        for row in rows {
            table
                .insert(row)
                .map_err(|e| BootstrapError(format!("load into `{service}`: {e}")))?;
        }
        Ok(())
    }
}

pub(crate) fn build_stores(
    app: &App,
    load: impl FnOnce(&Loader) -> Result<(), BootstrapError>,
) -> Result<Vec<Arc<Store>>, BootstrapError> {
    let stores = app
        .services
        .iter()
        .map(|s| s.build_store().map(Arc::new).map_err(BootstrapError))
        .collect::<Result<Vec<_>, _>>()?;
    load(&Loader {
        app,
        stores: &stores,
        only: None,
    })?;
    for s in &stores {
        s.commit_batch(0);
    }
    Ok(stores)
}

/// The empty store of service `service` alone.
pub(crate) fn build_store_for(app: &App, service: usize) -> Result<Arc<Store>, BootstrapError> {
    app.services[service]
        .build_store()
        .map(Arc::new)
        .map_err(BootstrapError)
}

/// Loads service `service`'s share of the initial data into its empty `store`.
pub(crate) fn load_store_for(
    app: &App,
    service: usize,
    store: &Arc<Store>,
    load: impl FnOnce(&Loader) -> Result<(), BootstrapError>,
) -> Result<(), BootstrapError> {
    load(&Loader {
        app,
        stores: std::slice::from_ref(store),
        only: Some(service),
    })?;
    store.commit_batch(0);
    Ok(())
}
