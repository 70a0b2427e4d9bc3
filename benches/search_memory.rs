//! Reception's search in memory (store/trigram_index.rs) at 100,000
//! generated identities: what one search costs the server's core, without
//! HTTP or the database (BENCHMARKS.md §5).
//!
//!     cargo bench --bench search_memory

use criterion::{Criterion, criterion_group, criterion_main};
use uuid::Uuid;

use escale::sandbox::generator::Generator;
use escale::store::trigram_index::TrigramIndex;

fn searches(c: &mut Criterion) {
    let mut generator = Generator::new(12);
    let mut index = TrigramIndex::new(0);
    let mut keys = Vec::new();
    for n in 0..100_000u128 {
        let key = generator.identity().identity.search_key();
        index.put(Uuid::from_u128(n), &key);
        keys.push(key);
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
            index.find(&[inside[i].as_str()], 21)
        })
    });
    let mut j = 0;
    g.bench_function("free_two_terms_page_21", |b| {
        b.iter(|| {
            j = (j + 1) % free.len();
            index.find(&[free[j].0.as_str(), free[j].1.as_str()], 21)
        })
    });
    g.finish();
}

criterion_group!(benches, searches);
criterion_main!(benches);
