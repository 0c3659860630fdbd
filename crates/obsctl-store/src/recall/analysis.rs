//! Text analysis: how an episode's text and a query become the terms the index holds
//! (words, lowercased, stop words dropped, stemmed; word pairs), and an episode's head.

use tantivy::Index;
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer, WhitespaceTokenizer,
};

/// The text analyzer: words, lowercased, stop words dropped (they match nearly every incident,
/// explain nothing and cost the most to score), stemmed.
pub(super) const ANALYZER: &str = "obsctl_en";

/// English function words, and the single letters and contraction tails (`s`, `t`, `ll`) that
/// splitting `service's` or `didn't` at the apostrophe leaves. Words that carry meaning in an
/// incident (`down`, `up`, `out`, `off`, `over`, `under`, `not`) are kept.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "d",
    "did",
    "do",
    "does",
    "doing",
    "during",
    "each",
    "etc",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "however",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "ll",
    "m",
    "may",
    "me",
    "might",
    "more",
    "most",
    "must",
    "my",
    "myself",
    "no",
    "nor",
    "now",
    "o",
    "of",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "own",
    "per",
    "re",
    "s",
    "same",
    "shall",
    "she",
    "should",
    "so",
    "some",
    "such",
    "t",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "thus",
    "to",
    "too",
    "us",
    "ve",
    "very",
    "via",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "within",
    "would",
    "y",
    "yet",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "b",
    "c",
    "e",
    "f",
    "g",
    "h",
    "j",
    "k",
    "l",
    "n",
    "p",
    "q",
    "r",
    "u",
    "v",
    "w",
    "x",
    "z",
    "didn",
    "doesn",
    "don",
    "hadn",
    "hasn",
    "haven",
    "isn",
    "wasn",
    "weren",
    "won",
    "wouldn",
    "couldn",
    "shouldn",
    "aren",
];

/// The pairs field holds tokens made by `pairs`, split at spaces only.
pub(super) const PAIRS: &str = "obsctl_pairs";

pub(super) fn register_analyzer(index: &Index) {
    index.tokenizers().register(PAIRS, TextAnalyzer::builder(WhitespaceTokenizer::default()).build());
    let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(STOP_WORDS.iter().map(|w| w.to_string())))
        .filter(Stemmer::new(Language::English))
        .build();
    index.tokenizers().register(ANALYZER, analyzer);
}

/// The head is at most this many bytes of the text's first paragraph.
const HEAD_BYTES: usize = 1000;

/// The text's first paragraph (up to a blank line), at most `HEAD_BYTES`: an incident's title
/// and details, a postmortem's title and summary.
pub(super) fn head_of(text: &str) -> &str {
    let first = text.split("\n\n").next().unwrap_or(text);
    let mut end = first.len().min(HEAD_BYTES);
    while !first.is_char_boundary(end) {
        end -= 1;
    }
    &first[..end]
}
