//! The spoken summary of a query result: a short sentence a voice can read aloud (seed 000 answered
//! `"Résultat : 42"`). French by default, English when configured. It names the row count, then the first
//! few rows as `column value` pairs, with long texts cut and French decimal commas.

use serde_json::{Map, Value};

use super::query::QueryResult;
use crate::config::SummaryLanguage;

/// Rows read aloud at most.
const SPOKEN_ROWS: usize = 3;
/// Columns read aloud per row at most.
const SPOKEN_COLUMNS: usize = 4;
/// Characters of one text value read aloud at most.
const SPOKEN_CHARS: usize = 60;

/// The words of one language.
struct Words {
    none: &'static str,
    result: &'static str,
    one_result: &'static str,
    /// "N results." (N >= 2).
    count: fn(usize) -> String,
    /// "N results shown, there are more." (N >= 1).
    count_truncated: fn(usize) -> String,
    /// Introduces the rows read aloud (one or several).
    first: [&'static str; 2],
    empty: &'static str,
    bytes: &'static str,
    colon: &'static str,
}

const FRENCH: Words = Words {
    none: "Aucun résultat.",
    result: "Résultat",
    one_result: "Un résultat",
    count: |n| format!("{n} résultats."),
    count_truncated: |n| {
        if n == 1 {
            "1 résultat affiché, il y en a d'autres.".into()
        } else {
            format!("{n} résultats affichés, il y en a d'autres.")
        }
    },
    first: ["Premier", "Premiers"],
    empty: "vide",
    bytes: "octets de données binaires",
    colon: " : ",
};

const ENGLISH: Words = Words {
    none: "No results.",
    result: "Result",
    one_result: "One result",
    count: |n| format!("{n} results."),
    count_truncated: |n| {
        if n == 1 { "1 result shown, there are more.".into() } else { format!("{n} results shown, there are more.") }
    },
    first: ["First", "First"],
    empty: "empty",
    bytes: "bytes of binary data",
    colon: ": ",
};

/// The sentence for `result`.
#[must_use]
pub fn speak(result: &QueryResult, language: SummaryLanguage) -> String {
    let words = match language {
        SummaryLanguage::French => &FRENCH,
        SummaryLanguage::English => &ENGLISH,
    };
    let french = language == SummaryLanguage::French;
    match (result.rows.as_slice(), result.columns.len()) {
        ([], _) => words.none.to_owned(),
        ([row], 1) if !result.truncated => {
            let value = row.values().next().map_or_else(String::new, |v| spoken_value(v, words, french));
            format!("{}{}{value}.", words.result, words.colon)
        }
        ([row], _) if !result.truncated => {
            format!("{}{}{}.", words.one_result, words.colon, spoken_row(row, words, french))
        }
        (rows, _) => {
            let count = if result.truncated { (words.count_truncated)(rows.len()) } else { (words.count)(rows.len()) };
            let spoken: Vec<String> = rows.iter().take(SPOKEN_ROWS).map(|row| spoken_row(row, words, french)).collect();
            let first = words.first[usize::from(spoken.len() > 1)];
            format!("{count} {first}{}{}.", words.colon, spoken.join(" ; "))
        }
    }
}

fn spoken_row(row: &Map<String, Value>, words: &Words, french: bool) -> String {
    let pairs: Vec<String> = row
        .iter()
        .take(SPOKEN_COLUMNS)
        .map(|(column, value)| format!("{column} {}", spoken_value(value, words, french)))
        .collect();
    pairs.join(", ")
}

fn spoken_value(value: &Value, words: &Words, french: bool) -> String {
    match value {
        Value::Null => words.empty.to_owned(),
        Value::Number(n) if french => n.to_string().replace('.', ","),
        Value::Number(n) => n.to_string(),
        Value::String(text) if text.chars().count() > SPOKEN_CHARS => {
            format!("{}…", text.chars().take(SPOKEN_CHARS).collect::<String>())
        }
        Value::String(text) => text.clone(),
        Value::Object(blob) => format!("{} {}", blob.get("size").unwrap_or(&Value::Null), words.bytes),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn result(rows: Value, truncated: bool) -> QueryResult {
        let rows: Vec<Map<String, Value>> =
            rows.as_array().unwrap().iter().map(|r| r.as_object().unwrap().clone()).collect();
        let columns = rows.first().map(|r| r.keys().cloned().collect()).unwrap_or_default();
        QueryResult { columns, rows, truncated, elapsed: Duration::ZERO }
    }

    #[test]
    fn one_value_is_read_as_the_seed_did() {
        assert_eq!(speak(&result(json!([{"COUNT(*)": 42}]), false), SummaryLanguage::French), "Résultat : 42.");
        assert_eq!(speak(&result(json!([{"total": 12.5}]), false), SummaryLanguage::French), "Résultat : 12,5.");
        assert_eq!(speak(&result(json!([{"total": 12.5}]), false), SummaryLanguage::English), "Result: 12.5.");
    }

    #[test]
    fn several_rows_name_the_count_and_the_first_ones() {
        let rows = json!([{"nom": "Dupont", "ville": "Lyon"}, {"nom": "Martin", "ville": null}]);
        assert_eq!(
            speak(&result(rows.clone(), false), SummaryLanguage::French),
            "2 résultats. Premiers : nom Dupont, ville Lyon ; nom Martin, ville vide."
        );
        assert!(speak(&result(rows, true), SummaryLanguage::English).starts_with("2 results shown, there are more."));
        assert_eq!(speak(&result(json!([]), false), SummaryLanguage::French), "Aucun résultat.");
    }
}
