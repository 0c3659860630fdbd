//! Plain-text tables and timelines for the terminal.

use obsctl_core::incident::{Incident, IncidentEvent};

/// Left-aligned columns sized to their widest cell; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i == last { c.to_string() } else { format!("{c:<w$}", w = widths[i]) })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// An incident's header and its timeline, one event a line.
pub fn timeline(incident: &Incident, events: &[IncidentEvent]) -> String {
    let mut out = format!(
        "{} [{}] {}\n  opened {}  occurrences {}  reopened {}x\n",
        incident.id,
        incident.status.as_str(),
        incident.title,
        incident.opened_at,
        incident.occurrences,
        incident.reopen_count
    );
    if let Some(r) = &incident.resolution {
        out.push_str(&format!("  resolution: {r}\n"));
    }
    for e in events {
        let offset = e.at.since(incident.opened_at);
        out.push_str(&format!(
            "  +{:>7}  {:<10} {}\n",
            obsctl_core::quantity::format_duration(offset),
            e.kind,
            e.message
        ));
    }
    out
}
