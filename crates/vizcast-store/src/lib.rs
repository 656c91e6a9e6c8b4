//! The desktop app's data: per-stream storage fed by the hub off the UI thread, bounded by one
//! memory budget, with decimation so that drawing a plot costs what its pixels cost.
//!
//! - [`Store`] (`store.rs`): scalar [`Series`] in blocks, the latest [`Cloud`] and the
//!   [`Polyline`] of each 3D stream, the latest [`StreamImage`] of each image stream,
//!   [`TextEvent`]s. Over `--memory-limit`, the oldest block of samples goes first (large
//!   slices, never sample by sample).
//! - [`Decimator`] (`decimate.rs`): min/max per pixel column, cached per zoom level.
//! - [`StoreFeed`] (`feed.rs`): the hub sink and the thread that applies frames.
//! - [`decode_image`] (`pixels.rs`): JPEG, PNG and raw pixels to RGBA, colormaps for heatmaps;
//!   [`ImageDecoder`] (`decoder.rs`): the thread that runs it, latest image per stream wins.
//!
//! This crate depends on no UI and no GPU: it is tested and benchmarked on its own.

mod decimate;
mod decoder;
mod feed;
mod pixels;
mod series;
mod store;

pub use decimate::Decimator;
pub use decoder::{Done, ImageDecoder};
pub use feed::StoreFeed;
pub use pixels::{
    Decoded, PixelValue, Scale, colormap_color, colormap_lut, decode_image, raw_value,
};
pub use series::{BLOCK, SAMPLE_BYTES, Series};
pub use store::{Cloud, Kinds, Polyline, Store, StoreConfig, StreamImage, TextEvent};
