//! Drawing PNG figures with plotters: the bundled font, and atomic writes.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

/// Font family registered from the bundled DejaVu Sans (no system fonts needed).
pub const FONT: &str = "sans-serif";

/// Colours of the first and second series (matplotlib's first two).
pub const BLUE: RGBColor = RGBColor(31, 119, 180);
/// See [`BLUE`].
pub const ORANGE: RGBColor = RGBColor(255, 127, 14);

fn register_font() -> Result<(), String> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| "the bundled DejaVu Sans font could not be loaded".to_string());
    });
    result
}

/// The drawing area a figure is drawn on.
pub type Canvas<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// Draw a `size` (width, height) PNG at `path` with `draw`, atomically: the figure is drawn to
/// a temporary sibling that is renamed into place only when complete.
pub fn draw_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&Canvas) -> Result<(), Box<dyn std::error::Error>>,
) -> Result<(), String> {
    register_font()?;
    let tmp = crate::io::temp_sibling(path).with_extension("png");
    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
        Ok(())
    })()
    .map_err(|e| format!("cannot draw {}: {e}", path.display()));
    match result {
        Ok(()) => {
            std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}
