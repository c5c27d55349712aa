//! Where values come from, as figment providers: the TOML file, then the `TESSERA_*` variables
//! (defaults are the fields' own, in `Settings`). Each provider's metadata names a value's source
//! the way error messages do: the file's path, or the variable's name as it was set.
//!
//! Why not figment's own `Toml` and `Env`: `Toml::file` searches parent directories, ignores a
//! missing file and words parse errors its own way; `Env` reads only the process environment
//! (tests pass a list) and guesses types (`[a]` becomes an array, `1.50` the number 1.5), where
//! tessera reads every variable as text. Unknown keys are refused (file) or skipped
//! (environment) here, before any value is read, using the field names serde knows.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::ConfigError;

/// Figment over the file (if any), then the environment, later ones winning.
pub(super) fn figment(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    keys: &'static [&'static str],
) -> Result<Figment, ConfigError> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        figment = figment.merge(file_layer(path, keys)?);
    }
    Ok(figment.merge(env_layer(env, keys)))
}

/// One source's values; `names` maps each key to the source name shown in errors.
struct Layer {
    dict: Dict,
    names: Arc<BTreeMap<String, String>>,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        let names = Arc::clone(&self.names);
        Metadata::named("tessera settings").interpolater(move |_: &Profile, keys: &[&str]| {
            let key = keys.first().copied().unwrap_or_default();
            names.get(key).cloned().unwrap_or_else(|| key.to_string())
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

fn file_layer(path: &Path, keys: &[&str]) -> Result<Layer, ConfigError> {
    let shown = path.display().to_string();
    let file_error = |reason: String| ConfigError::File {
        path: shown.clone(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| file_error(e.message().to_string()))?;
    if let Some(unknown) = table.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(ConfigError::Unknown {
            key: unknown.clone(),
            source_name: shown,
        });
    }
    // Serializing keeps TOML datetimes recognisable to `toml::Value` when read back in read.rs.
    let dict = Value::serialize(&table)
        .map_err(|e| file_error(e.to_string()))?
        .into_dict()
        .unwrap_or_default();
    let names = table.keys().map(|k| (k.clone(), shown.clone())).collect();
    Ok(Layer {
        dict,
        names: Arc::new(names),
    })
}

/// `TESSERA_ACCESS_TOKEN_TTL` sets `access_token_ttl`; variables naming no setting are other
/// tools' business (for example `TESSERA_LOG`) and are skipped. A later variable for the same
/// setting wins.
fn env_layer(env: impl IntoIterator<Item = (String, String)>, keys: &[&str]) -> Layer {
    let mut dict = Dict::new();
    let mut names = BTreeMap::new();
    for (name, value) in env {
        let Some(key) = name.strip_prefix("TESSERA_") else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        if !keys.contains(&key.as_str()) {
            continue;
        }
        dict.insert(key.clone(), Value::from(value));
        names.insert(key, name);
    }
    Layer {
        dict,
        names: Arc::new(names),
    }
}

/// The field names serde derives for `T`, the one list of known settings.
pub(super) fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields = None;
    let _ = T::deserialize(FieldNames(&mut fields));
    fields.unwrap_or_default()
}

/// A deserializer that only records the fields a struct asks for, then stops.
struct FieldNames<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("only the field names were wanted"))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}
