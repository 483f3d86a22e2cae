//! Go's `text/tabwriter` as etcdctl sets it up for help texts
//! (`minwidth 0, tabwidth 8, padding 1, padchar '\t'`): tab-terminated
//! cells of consecutive lines form a column block, padded with tabs to the
//! widest cell (plus one) rounded up to a tab stop.
//!
//! ```text
//!   "\tget\tGets"      cells: "" | "get" | trailing "Gets"
//!   "\tlease grant\tC" column 1 block width = max(len)+1 → next multiple of 8
//! ```

/// Tab stops every this many columns.
const TAB_WIDTH: usize = 8;
/// Added to the widest cell of a column block.
const PADDING: usize = 1;

/// Aligns `text` as Go's tabwriter with etcdctl's settings would.
pub fn align(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<Vec<usize>> = lines.iter().map(|l| vec![0; l.len()]).collect();
    format_block(&lines, &mut widths, 0, lines.len(), 0);
    let mut out = String::new();
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        for (column, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if column + 1 < line.len() {
                let width = widths[index][column];
                let cell_width = width.div_ceil(TAB_WIDTH) * TAB_WIDTH;
                let pad = cell_width.saturating_sub(cell.chars().count());
                out.push_str(&"\t".repeat(pad.div_ceil(TAB_WIDTH)));
            }
        }
    }
    out
}

/// Gives every line in `first..end` that has a tab-terminated cell in
/// `column` the width of its block, then does the next column within it.
fn format_block(
    lines: &[Vec<&str>],
    widths: &mut [Vec<usize>],
    first: usize,
    end: usize,
    column: usize,
) {
    let mut this = first;
    while this < end {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        let start = this;
        let mut width = 0;
        while this < end && column + 1 < lines[this].len() {
            width = width.max(lines[this][column].chars().count() + PADDING);
            this += 1;
        }
        for row in widths.iter_mut().take(this).skip(start) {
            row[column] = width;
        }
        format_block(lines, widths, start, this, column + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::align;

    #[test]
    fn columns_pad_to_tab_stops() {
        assert_eq!(
            align("\ta\tx\n\tabcdefghij\ty"),
            "\ta\t\tx\n\tabcdefghij\ty"
        );
        assert_eq!(align("NAME:\n\tget - x"), "NAME:\n\tget - x");
    }
}
