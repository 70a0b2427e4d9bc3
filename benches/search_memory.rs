//! Reception's search in memory (store/trigram_index.rs) at 100,000
//! generated identities: what one search costs the server's core, its
//! page's rows decoded (store/listed_bytes.rs), without HTTP or the
//! database (BENCHMARKS.md §5).
//!
//!     cargo bench --bench search_memory

use criterion::{Criterion, criterion_group, criterion_main};
use uuid::Uuid;

use escale::domain::identity::IdentityStatus;
use escale::sandbox::generator::Generator;
use escale::store::trigram_index::TrigramIndex;
use escale::store::{Listed, listed_bytes};

/// The page as the search gives it: the files found, their rows decoded.
fn page(index: &TrigramIndex, terms: &[&str]) -> Vec<Listed> {
    let found = index.find_files(terms, 21).unwrap_or_default();
    found
        .into_iter()
        .filter_map(|f| listed_bytes::decode(f.id, f.key, f.row))
        .collect()
}

fn searches(c: &mut Criterion) {
    let mut generator = Generator::new(12);
    let mut index = TrigramIndex::new(0);
    let mut keys = Vec::new();
    for n in 0..100_000u128 {
        let identity = generator.identity().identity;
        let listed = Listed {
            id: Uuid::from_u128(n),
            search_key: identity.search_key(),
            identity,
            status: IdentityStatus::Prov,
        };
        index.put(
            listed.id,
            &listed.search_key,
            &listed_bytes::encode(&listed),
        );
        keys.push(listed.search_key);
    }
    index.shrink();
    // Terms as the load script makes them: 4 letters from inside a birth
    // name; the first name's first 4 letters then those.
    let inside: Vec<String> = keys
        .iter()
        .step_by(997)
        .filter_map(|k| {
            k.split(' ')
                .next()
                .filter(|w| w.len() >= 6)
                .map(|w| w[1..5].to_string())
        })
        .collect();
    let free: Vec<(String, String)> = keys
        .iter()
        .step_by(997)
        .filter_map(|k| {
            let words: Vec<&str> = k.split(' ').collect();
            let (birth, first) = (words.first()?, words.last()?);
            (birth.len() >= 6 && first.len() >= 4)
                .then(|| (first[..4].to_string(), birth[1..5].to_string()))
        })
        .collect();
    println!(
        "{} files held, about {} MiB; {} inside terms, {} free pairs",
        index.len(),
        index.bytes() >> 20,
        inside.len(),
        free.len()
    );
    let mut g = c.benchmark_group("search_memory_100k");
    let mut i = 0;
    g.bench_function("inside_4_letters_page_21", |b| {
        b.iter(|| {
            i = (i + 1) % inside.len();
            page(&index, &[inside[i].as_str()])
        })
    });
    let mut j = 0;
    g.bench_function("free_two_terms_page_21", |b| {
        b.iter(|| {
            j = (j + 1) % free.len();
            page(&index, &[free[j].0.as_str(), free[j].1.as_str()])
        })
    });
    g.finish();
}

criterion_group!(benches, searches);
criterion_main!(benches);
