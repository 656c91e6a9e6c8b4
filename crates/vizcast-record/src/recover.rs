//! Rewriting a recording cut short (the process was killed, the disk filled up) as a complete
//! MCAP file with a summary and an index.
//!
//! Schemas are copied, but for one kind: a schema that would make Lichtblick and Foxglove fail
//! the channel of JSON messages it describes ([`apps::check_channel`]), such as the full protocol
//! schema that older recordings carried on every channel. Those channels are written without
//! a schema (schema id 0), as the recorder writes them now, so a recovered file opens in the apps
//! channel by channel; the messages are the same bytes either way.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use mcap::records::Record;

use crate::recording::LinearMessages;
use crate::{RecordError, apps, nanos};

/// What [`recover`] found and wrote.
#[derive(Clone, Debug)]
pub struct RecoverReport {
    /// Messages copied.
    pub messages: u64,
    /// Why reading stopped before the end of the input, if it did.
    pub cut: Option<String>,
}

/// Reads `input` from the start, as far as it is intact, and writes everything to `output`.
pub fn recover(input: &Path, output: &Path) -> Result<RecoverReport, RecordError> {
    let mut reader = LinearMessages::open(input)?;
    reader.keep_records = true;
    let file = File::create(output).map_err(|e| RecordError::io(output, e))?;
    let mut writer = mcap::WriteOptions::new()
        .profile("")
        .library(concat!(
            "vizcast ",
            env!("CARGO_PKG_VERSION"),
            " (recovered)"
        ))
        .create(BufWriter::with_capacity(1 << 20, file))
        .map_err(|e| RecordError::mcap(output, e))?;
    // Schemas met in the input, by its ids; written to the output when a channel needs them.
    let mut schemas: HashMap<u16, (String, String, Vec<u8>)> = HashMap::new();
    let mut written_schemas: HashMap<u16, u16> = HashMap::new();
    let mut dropped_schemas = std::collections::BTreeSet::new();
    let mut channels: HashMap<u16, u16> = HashMap::new();
    let mut messages = 0u64;
    let mut cut = None;
    let mcap_err = |e| RecordError::mcap(output, e);
    loop {
        let next = reader.next();
        // Records met before this message: schemas, channels, metadata.
        for record in std::mem::take(&mut reader.records) {
            match record {
                Record::Schema { header, data } => {
                    schemas.insert(header.id, (header.name, header.encoding, data.into_owned()));
                }
                Record::Channel(channel) => {
                    // Schema id 0 (no schema, what the recorder writes) stays 0; so does an id
                    // whose schema record was lost.
                    let schema = match schemas.get(&channel.schema_id) {
                        None => 0,
                        Some((name, encoding, data))
                            if channel.message_encoding == "json"
                                && apps::check_channel("json", Some((encoding, data))).is_err() =>
                        {
                            dropped_schemas.insert(name.clone());
                            0
                        }
                        Some((name, encoding, data)) => match written_schemas
                            .get(&channel.schema_id)
                        {
                            Some(&id) => id,
                            None => {
                                let id =
                                    writer.add_schema(name, encoding, data).map_err(mcap_err)?;
                                written_schemas.insert(channel.schema_id, id);
                                id
                            }
                        },
                    };
                    let id = writer
                        .add_channel(
                            schema,
                            &channel.topic,
                            &channel.message_encoding,
                            &channel.metadata,
                        )
                        .map_err(mcap_err)?;
                    channels.insert(channel.id, id);
                }
                Record::Metadata(metadata) => writer.write_metadata(&metadata).map_err(mcap_err)?,
                _ => {}
            }
        }
        match next {
            None => break,
            Some(Ok((mut header, data))) => {
                let Some(&channel) = channels.get(&header.channel_id) else {
                    continue;
                };
                header.channel_id = channel;
                writer
                    .write_to_known_channel(&header, &data)
                    .map_err(mcap_err)?;
                messages += 1;
            }
            Some(Err(err)) => {
                cut = Some(err.to_string());
                break;
            }
        }
    }
    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert("from".to_owned(), input.display().to_string());
    metadata.insert("messages".to_owned(), messages.to_string());
    metadata.insert(
        "at".to_owned(),
        format!("{:.3}", nanos(vizcast_hub::unix_now()) as f64 / 1e9),
    );
    if let Some(cut) = &cut {
        metadata.insert("cut".to_owned(), cut.clone());
    }
    if !dropped_schemas.is_empty() {
        let names: Vec<String> = dropped_schemas.into_iter().collect();
        metadata.insert("dropped_schemas".to_owned(), names.join(","));
    }
    writer
        .write_metadata(&mcap::records::Metadata {
            name: "vizcast.recovered".to_owned(),
            metadata,
        })
        .map_err(mcap_err)?;
    writer.finish().map_err(mcap_err)?;
    Ok(RecoverReport { messages, cut })
}
