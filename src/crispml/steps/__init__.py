"""Pure steps: frames in, frames (or fitted objects) out. No files, connections or settings here."""
