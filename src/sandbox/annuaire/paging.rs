//! Search sessions and searchset Bundles: a search's matches are kept under
//! a uuid, and each page's `next` link names it with an opaque `_pageId`
//! (`<base>?_getpages=<uuid>&_pageId=<opaque>&_format=json&_bundletype=searchset`,
//! like the real server's). Old sessions expire: `410 Gone`.

use std::collections::{HashMap, VecDeque};

use axum::body::Body;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::search::{self, Kind, Search};
use super::{BASE_PATH, State, fhir_response, lock, outcome};

/// Paging sessions kept (the oldest expire first).
const SESSIONS_KEPT: usize = 500;

pub(super) struct Session {
    search: Search,
    matches: Vec<usize>,
    /// `_pageId` → offset of the page.
    pages: HashMap<String, usize>,
}

/// Sessions by id, and their ids oldest first.
pub(super) type Sessions = (HashMap<String, Session>, VecDeque<String>);

pub(super) fn first_page(
    state: &State,
    kind: Kind,
    params: &[(String, String)],
    target: &str,
) -> Response<Body> {
    let search = match Search::parse(kind, params, state.default_count, state.max_count) {
        Ok(s) => s,
        Err(refusal) => return outcome(StatusCode::BAD_REQUEST, "invalid", &refusal),
    };
    let matches: Vec<usize> = state
        .data
        .resources
        .iter()
        .enumerate()
        .filter(|(_, r)| search.matches(r))
        .map(|(i, _)| i)
        .collect();
    let session = Session {
        search,
        matches,
        pages: HashMap::new(),
    };
    let id = Uuid::new_v4().to_string();
    let mut sessions = lock(&state.sessions);
    let (map, order) = &mut *sessions;
    map.insert(id.clone(), session);
    order.push_back(id.clone());
    while order.len() > SESSIONS_KEPT {
        if let Some(old) = order.pop_front() {
            map.remove(&old);
        }
    }
    let Some(session) = map.get_mut(&id) else {
        return outcome(
            StatusCode::INTERNAL_SERVER_ERROR,
            "exception",
            "session lost",
        );
    };
    bundle(state, &id, session, 0, target)
}

pub(super) fn next_page(
    state: &State,
    params: &[(String, String)],
    target: &str,
) -> Response<Body> {
    let mut pages = None;
    let mut page_id = None;
    for (k, v) in params {
        match k.as_str() {
            "_getpages" => pages = Some(v.as_str()),
            "_pageId" => page_id = Some(v.as_str()),
            "_format" | "_bundletype" => {}
            other => {
                return outcome(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    &format!("Unknown parameter \"{other}\" for a paging request"),
                );
            }
        }
    }
    let (Some(pages), Some(page_id)) = (pages, page_id) else {
        return outcome(
            StatusCode::BAD_REQUEST,
            "invalid",
            "No resource type in the URL and no _getpages/_pageId: nothing to search",
        );
    };
    let mut sessions = lock(&state.sessions);
    let gone = || {
        outcome(
            StatusCode::GONE,
            "not-found",
            &format!("Search id \"{pages}\" does not exist and may have expired"),
        )
    };
    let Some(session) = sessions.0.get_mut(pages) else {
        return gone();
    };
    let Some(offset) = session.pages.get(page_id).copied() else {
        return gone();
    };
    bundle(state, pages, session, offset, target)
}

/// The page of `session` starting at `offset`, with its includes.
fn bundle(
    state: &State,
    session_id: &str,
    session: &mut Session,
    offset: usize,
    target: &str,
) -> Response<Body> {
    let all = &state.data.resources;
    let count = session.search.count;
    let end = (offset + count).min(session.matches.len());
    let page: Vec<&Value> = session.matches[offset.min(end)..end]
        .iter()
        .map(|&i| &all[i])
        .collect();
    let included = includes(all, &page, session.search.includes);
    let origin = state
        .base_url
        .strip_suffix(BASE_PATH)
        .unwrap_or(&state.base_url);
    let mut links = vec![json!({"relation": "self", "url": format!("{origin}{target}")})];
    if end < session.matches.len() && count > 0 {
        let page_id = Uuid::new_v4().simple().to_string();
        session.pages.insert(page_id.clone(), end);
        links.push(json!({
            "relation": "next",
            "url": format!(
                "{}?_getpages={session_id}&_pageId={page_id}&_format=json&_bundletype=searchset",
                state.base_url
            )
        }));
    }
    let entry = |r: &Value, mode: &str| {
        json!({
            "fullUrl": format!(
                "{}/{}/{}",
                state.base_url,
                r["resourceType"].as_str().unwrap_or_default(),
                r["id"].as_str().unwrap_or_default()
            ),
            "resource": r,
            "search": {"mode": mode},
        })
    };
    let entries: Vec<Value> = page
        .iter()
        .map(|r| entry(r, "match"))
        .chain(included.iter().map(|r| entry(r, "include")))
        .collect();
    fhir_response(
        StatusCode::OK,
        &json!({
            "resourceType": "Bundle",
            "id": Uuid::new_v4().to_string(),
            "meta": {"lastUpdated": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false)},
            "type": "searchset",
            "total": session.matches.len(),
            "link": links,
            "entry": entries,
        }),
    )
}

fn includes<'a>(all: &'a [Value], page: &[&Value], wanted: search::Includes) -> Vec<&'a Value> {
    let ids = |kind: &str| -> Vec<&str> {
        page.iter()
            .filter(|r| r["resourceType"] == kind)
            .filter_map(|r| r["id"].as_str())
            .collect()
    };
    let referenced = |element: &str, target: &str| -> Vec<String> {
        page.iter()
            .filter_map(|r| search::reference_id(&r[element], target))
            .collect()
    };
    let mut out: Vec<&Value> = Vec::new();
    let mut push = |r: &'a Value| {
        if !out.iter().any(|x| std::ptr::eq(*x, r)) {
            out.push(r);
        }
    };
    if wanted.roles_of_practitioners {
        let practitioners = ids("Practitioner");
        for r in all
            .iter()
            .filter(|r| r["resourceType"] == "PractitionerRole")
        {
            if search::reference_id(&r["practitioner"], "Practitioner")
                .is_some_and(|p| practitioners.contains(&p.as_str()))
            {
                push(r);
            }
        }
    }
    for (on, element, target) in [
        (wanted.organizations, "organization", "Organization"),
        (wanted.practitioners, "practitioner", "Practitioner"),
    ] {
        if !on {
            continue;
        }
        let refs = referenced(element, target);
        for r in all
            .iter()
            .filter(|r| r["resourceType"] == target)
            .filter(|r| {
                r["id"]
                    .as_str()
                    .is_some_and(|id| refs.iter().any(|x| x == id))
            })
        {
            push(r);
        }
    }
    out
}
