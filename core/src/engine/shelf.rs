//! The models a bot may use, by name: loaded when a channel first needs one, at most
//! `engine.max_loaded_models` at once.
//!
//! [`ModelShelf`] holds the `[[models]]` list ([`ModelChoice`], the default first) and one
//! [`Engine`] per loaded model. [`ModelShelf::engine`] gives the engine of a name, loading it
//! through the shelf's [`ModelLoader`] when it is not loaded (blocking: call it off the async
//! runtime); loading one more than the bound unloads the least recently used. An unloaded
//! engine is only dropped from the shelf: an answer still streaming from it finishes, and its
//! memory goes with the last handle. The engines themselves know nothing of names, so the local
//! engine's generation code is the same for one model or many.

use std::sync::{Arc, Mutex, MutexGuard};

use tracing::info;

use super::Engine;
use crate::config::{ModelChoice, DEFAULT_MODEL_NAME};
use crate::{Error, Result};

/// Loads the engine of one model (the local engine's file, or a name on an OpenAI server).
pub trait ModelLoader: Send + Sync {
    /// The engine for `choice`. Blocking.
    fn load(&self, choice: &ModelChoice) -> Result<Arc<dyn Engine>>;
}

impl<F> ModelLoader for F
where
    F: Fn(&ModelChoice) -> Result<Arc<dyn Engine>> + Send + Sync,
{
    fn load(&self, choice: &ModelChoice) -> Result<Arc<dyn Engine>> {
        self(choice)
    }
}

/// A loaded model.
struct Loaded {
    name: String,
    engine: Arc<dyn Engine>,
    last_used: u64,
}

/// The models in memory, with the clock that orders their use (least recently used goes first).
#[derive(Default)]
struct InMemory {
    loaded: Vec<Loaded>,
    clock: u64,
}

/// The models a bot may use, loaded on demand under a bound. See the module docs.
pub struct ModelShelf {
    choices: Vec<ModelChoice>,
    loader: Box<dyn ModelLoader>,
    max_loaded: usize,
    in_memory: Mutex<InMemory>,
    /// Held while a model loads: one load at a time (each can take most of the memory).
    loading: Mutex<()>,
}

impl std::fmt::Debug for ModelShelf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelShelf")
            .field("models", &self.names())
            .field("loaded", &self.loaded_names())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ModelShelf {
    /// A shelf of `choices` (the default first; at least one), loading through `loader`, with
    /// at most `max_loaded` loaded at once (at least one).
    pub fn new(
        choices: Vec<ModelChoice>,
        max_loaded: usize,
        loader: impl ModelLoader + 'static,
    ) -> Result<Self> {
        if choices.is_empty() {
            return Err(Error::Config {
                key: "models".into(),
                reason: "no model to use".into(),
            });
        }
        Ok(Self {
            choices,
            loader: Box::new(loader),
            max_loaded: max_loaded.max(1),
            in_memory: Mutex::default(),
            loading: Mutex::new(()),
        })
    }

    /// One model, `engine`, already loaded and named [`DEFAULT_MODEL_NAME`].
    pub fn single(engine: Arc<dyn Engine>) -> Self {
        let choice = ModelChoice {
            name: DEFAULT_MODEL_NAME.into(),
            source: String::new(),
            server_model: None,
            persona: None,
            template: None,
        };
        Self::preloaded(vec![choice], 1, vec![engine])
    }

    /// A shelf whose models are all loaded already: `engines[i]` is `choices[i]`'s. A model
    /// unloaded from it cannot come back (for tests and embedders that build engines
    /// themselves).
    pub fn preloaded(
        choices: Vec<ModelChoice>,
        max_loaded: usize,
        engines: Vec<Arc<dyn Engine>>,
    ) -> Self {
        let loader = |c: &ModelChoice| -> Result<Arc<dyn Engine>> {
            Err(Error::InvalidRequest(format!(
                "model {} was unloaded and this shelf cannot load it again",
                c.name
            )))
        };
        let mut in_memory = InMemory::default();
        for (choice, engine) in choices.iter().zip(engines) {
            in_memory.clock += 1;
            in_memory.loaded.push(Loaded {
                name: choice.name.clone(),
                engine,
                last_used: in_memory.clock,
            });
        }
        Self {
            max_loaded: max_loaded.max(in_memory.loaded.len()).max(1),
            choices,
            loader: Box::new(loader),
            in_memory: Mutex::new(in_memory),
            loading: Mutex::new(()),
        }
    }

    /// Every model, the default first.
    pub fn choices(&self) -> &[ModelChoice] {
        &self.choices
    }

    /// The names of every model, the default first.
    pub fn names(&self) -> Vec<&str> {
        self.choices.iter().map(|c| c.name.as_str()).collect()
    }

    /// The model called `name` (case-insensitively).
    pub fn choice(&self, name: &str) -> Option<&ModelChoice> {
        self.choices
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The model a channel that chose `name` (or nothing) uses: it, or the default when it
    /// chose none or one no longer listed.
    pub fn choice_or_default(&self, name: Option<&str>) -> &ModelChoice {
        name.and_then(|n| self.choice(n))
            .unwrap_or(&self.choices[0])
    }

    /// The engine of `name` if it is loaded (counts as a use).
    pub fn loaded(&self, name: &str) -> Option<Arc<dyn Engine>> {
        let mut in_memory = lock(&self.in_memory);
        in_memory.clock += 1;
        let now = in_memory.clock;
        let found = in_memory.loaded.iter_mut().find(|l| l.name == name)?;
        found.last_used = now;
        Some(found.engine.clone())
    }

    /// The names of the loaded models, most recently used first.
    pub fn loaded_names(&self) -> Vec<String> {
        let in_memory = lock(&self.in_memory);
        let mut loaded: Vec<(&String, u64)> = in_memory
            .loaded
            .iter()
            .map(|l| (&l.name, l.last_used))
            .collect();
        loaded.sort_by_key(|(_, used)| std::cmp::Reverse(*used));
        loaded.into_iter().map(|(n, _)| n.clone()).collect()
    }

    /// The engine of the model `name`, loading it (blocking) when it is not loaded and
    /// unloading the least recently used beyond the bound.
    pub fn engine(&self, name: &str) -> Result<Arc<dyn Engine>> {
        let choice = self
            .choice(name)
            .ok_or_else(|| Error::InvalidRequest(format!("no model {name}")))?;
        if let Some(engine) = self.loaded(&choice.name) {
            return Ok(engine);
        }
        let _one_at_a_time = lock(&self.loading);
        if let Some(engine) = self.loaded(&choice.name) {
            return Ok(engine);
        }
        let engine = self.loader.load(choice)?;
        info!(model = %choice.name, engine = %engine.describe(), "model loaded");
        let mut in_memory = lock(&self.in_memory);
        in_memory.clock += 1;
        let now = in_memory.clock;
        in_memory.loaded.push(Loaded {
            name: choice.name.clone(),
            engine: engine.clone(),
            last_used: now,
        });
        while in_memory.loaded.len() > self.max_loaded {
            let Some(oldest) =
                (0..in_memory.loaded.len()).min_by_key(|&i| in_memory.loaded[i].last_used)
            else {
                break;
            };
            let gone = in_memory.loaded.remove(oldest);
            info!(model = %gone.name, "model unloaded (least recently used)");
        }
        Ok(engine)
    }

    /// Drop what every loaded engine caches for `conversation`.
    pub fn forget(&self, conversation: &str) {
        let engines: Vec<Arc<dyn Engine>> = lock(&self.in_memory)
            .loaded
            .iter()
            .map(|l| l.engine.clone())
            .collect();
        for engine in engines {
            engine.forget(conversation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::scripted::ScriptedEngine;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn choice(name: &str) -> ModelChoice {
        ModelChoice {
            name: name.into(),
            source: format!("{name}.gguf"),
            server_model: None,
            persona: None,
            template: None,
        }
    }

    #[test]
    fn loaded_models_are_bounded_and_the_least_recently_used_goes() {
        let loads = Arc::new(AtomicUsize::new(0));
        let counter = loads.clone();
        let loader = move |_: &ModelChoice| -> Result<Arc<dyn Engine>> {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(Arc::new(ScriptedEngine::new()))
        };
        let shelf =
            ModelShelf::new(vec![choice("a"), choice("b"), choice("c")], 2, loader).unwrap();
        shelf.engine("a").unwrap();
        shelf.engine("B").unwrap();
        assert_eq!(shelf.loaded_names(), ["b", "a"]);
        shelf.engine("a").unwrap();
        shelf.engine("c").unwrap();
        assert_eq!(
            shelf.loaded_names(),
            ["c", "a"],
            "b was the least recently used"
        );
        assert_eq!(loads.load(Ordering::Relaxed), 3, "a was not loaded twice");
        shelf.engine("b").unwrap();
        assert_eq!(
            loads.load(Ordering::Relaxed),
            4,
            "b comes back by loading again"
        );
        assert!(shelf.engine("d").is_err());
    }

    #[test]
    fn a_choice_no_longer_listed_falls_back_to_the_default() {
        let shelf = ModelShelf::preloaded(
            vec![choice("a"), choice("b")],
            2,
            vec![
                Arc::new(ScriptedEngine::new()),
                Arc::new(ScriptedEngine::new()),
            ],
        );
        assert_eq!(shelf.choice_or_default(Some("B")).name, "b");
        assert_eq!(shelf.choice_or_default(Some("gone")).name, "a");
        assert_eq!(shelf.choice_or_default(None).name, "a");
    }
}
