//! lcov tracefiles, as `coverage lcov`, `c8`/`nyc`, `cargo llvm-cov --lcov`, `grcov` and
//! geninfo (the input of `genhtml`) write them: records from `SF:<path>` to `end_of_record`,
//! `DA:<line>,<hits>[,<checksum>]`, `BRDA:<line>,<block>,<branch>,<taken or ->`, and the
//! summary lines `LF`/`LH` and `BRF`/`BRH`. A record's summary lines are used when present (they
//! are what genhtml shows); else the `DA`/`BRDA` lines are counted. Other lines (`TN`, `FN`,
//! `FNDA`, `FNF`, `FNH`, `VER`) are read past.

use sluice_plugin::TaskError;

use crate::coverage::{Coverage, FileCoverage};
use crate::position::{Position, malformed};

#[derive(Default)]
struct Record {
    file: FileCoverage,
    da: (u64, u64),
    brda: (u64, u64),
    lf: Option<u64>,
    lh: Option<u64>,
    brf: Option<u64>,
    brh: Option<u64>,
}

impl Record {
    fn finish(self) -> FileCoverage {
        FileCoverage {
            lines_total: self.lf.unwrap_or(self.da.0),
            lines_covered: self.lh.unwrap_or(self.da.1),
            branches_total: self.brf.unwrap_or(self.brda.0),
            branches_covered: self.brh.unwrap_or(self.brda.1),
            ..self.file
        }
    }
}

pub fn parse(text: &str, file: &str) -> Result<Coverage, TaskError> {
    let mut files = Vec::new();
    let mut record: Option<Record> = None;
    let mut offset = 0;
    for (index, raw) in text.split_inclusive('\n').enumerate() {
        let line_start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let at = |column: usize| Position { line: index + 1, column };
        if line.trim().is_empty() {
            continue;
        }
        if line == "end_of_record" {
            match record.take() {
                Some(done) => files.push(done.finish()),
                None => return Err(malformed(file, at(1), "`end_of_record` with no `SF:` record open")),
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            let position = Position::at(text, line_start);
            return Err(malformed(file, position, format!("`{line}` is not an lcov line (KEY:value)")));
        };
        let value_column = key.chars().count() + 2;
        let number = |field: &str, column: usize| -> Result<u64, TaskError> {
            field.trim().parse::<u64>().map_err(|_| {
                malformed(file, at(column), format!("{key}: `{field}` is not a non-negative integer"))
            })
        };
        match key {
            "SF" => {
                if record.is_some() {
                    return Err(malformed(file, at(1), "`SF:` before the previous record's `end_of_record`"));
                }
                record = Some(Record { file: FileCoverage::new(value.trim()), ..Record::default() });
            }
            "TN" | "VER" => {}
            _ => {
                let Some(open) = record.as_mut() else {
                    return Err(malformed(
                        file,
                        at(1),
                        format!("`{key}:` outside a record (no `SF:` before it)"),
                    ));
                };
                let fields: Vec<&str> = value.split(',').collect();
                // The column of field `i` in the line, for errors.
                let column_of = |i: usize| {
                    value_column + fields[..i].iter().map(|f| f.chars().count() + 1).sum::<usize>()
                };
                match key {
                    "DA" => {
                        if fields.len() < 2 {
                            return Err(malformed(file, at(value_column), "DA: expected `<line>,<hits>`"));
                        }
                        number(fields[0], column_of(0))?;
                        let hits = number(fields[1], column_of(1))?;
                        open.da.0 += 1;
                        open.da.1 += u64::from(hits > 0);
                    }
                    "BRDA" => {
                        if fields.len() < 4 {
                            return Err(malformed(
                                file,
                                at(value_column),
                                "BRDA: expected `<line>,<block>,<branch>,<taken>`",
                            ));
                        }
                        number(fields[0], column_of(0))?;
                        let taken = match fields[3].trim() {
                            "-" => 0,
                            taken => number(taken, column_of(3))?,
                        };
                        open.brda.0 += 1;
                        open.brda.1 += u64::from(taken > 0);
                    }
                    "LF" => open.lf = Some(number(value, value_column)?),
                    "LH" => open.lh = Some(number(value, value_column)?),
                    "BRF" => open.brf = Some(number(value, value_column)?),
                    "BRH" => open.brh = Some(number(value, value_column)?),
                    _ => {}
                }
            }
        }
    }
    if let Some(open) = record {
        return Err(malformed(
            file,
            Position::at(text, text.len()),
            format!("the record of {} has no `end_of_record`", open.file.path),
        ));
    }
    Ok(Coverage::from_files(files))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_coverage_py_tracefile_counts_da_and_brda_lines() {
        let coverage = parse(include_str!("../fixtures/coverage-py.lcov"), "coverage.lcov").unwrap();
        let files: Vec<(&str, u64, u64, u64, u64)> = coverage
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.lines_covered, f.lines_total, f.branches_covered, f.branches_total))
            .collect();
        assert_eq!(files, [("app/__init__.py", 2, 2, 0, 0), ("app/server.py", 7, 9, 1, 4)]);
        assert_eq!((coverage.lines_covered, coverage.lines_total), (9, 11));
    }

    #[test]
    fn geninfo_summary_lines_win_over_counting() {
        let coverage = parse(include_str!("../fixtures/geninfo.info"), "app.info").unwrap();
        let files: Vec<(&str, u64, u64, u64, u64)> = coverage
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.lines_covered, f.lines_total, f.branches_covered, f.branches_total))
            .collect();
        assert_eq!(files, [("/src/shop/cart.c", 5, 6, 3, 4), ("/src/shop/tax.c", 0, 3, 0, 2)]);
    }

    #[test]
    fn malformed_lines_are_named_with_their_line_and_column() {
        let crlf = parse("SF:a.py\r\nDA:1,1\r\nDA:2,0\r\nend_of_record\r\n", "c.lcov").unwrap();
        assert_eq!((crlf.lines_covered, crlf.lines_total), (1, 2));
        let err = parse("SF:a.py\nDA:1,1\nDA:2,x\nend_of_record\n", "c.lcov").err().unwrap();
        assert_eq!(err.message(), "c.lcov:3:6: malformed report: DA: `x` is not a non-negative integer");
        let err = parse("SF:a.py\nDA:1,1\n", "c.lcov").err().unwrap();
        assert_eq!(err.message(), "c.lcov:3:1: malformed report: the record of a.py has no `end_of_record`");
        let err = parse("TN:\nDA:1,1\n", "c.lcov").err().unwrap();
        assert_eq!(
            err.message(),
            "c.lcov:2:1: malformed report: `DA:` outside a record (no `SF:` before it)"
        );
        let err = parse("SF:a.py\n<html>\n", "c.lcov").err().unwrap();
        assert_eq!(err.message(), "c.lcov:2:1: malformed report: `<html>` is not an lcov line (KEY:value)");
    }
}
