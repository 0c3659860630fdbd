//! The Bolt graph backend (Neo4j 5, FalkorDB, Memgraph): the fix-history graph written as
//! nodes and edges and queried in Cypher. It mirrors the journal (see `graph_mirror`), which
//! stays the source of truth.

use async_trait::async_trait;
use obsctl_config::BoltConfig;
use obsctl_core::Timestamp;
use obsctl_core::action::Action;
use obsctl_core::graph::{FixRecord, Reached, UpstreamFailure};
use obsctl_core::incident::Incident;

use obsctl_bolt::packstream::{self, Value, map};
use obsctl_bolt::{BoltError, Pool, Record, Target, quoting};

use crate::rows::{self, DbRow};
use crate::{GraphStore, Result, StoreError};

/// Connections kept open to the graph server.
const POOL_SIZE: usize = 4;
/// The most parameter bytes one write sends. FalkorDB 4.16 crashes on parameters over about
/// 4 KB, so rows go in batches under this, and a longer value is appended in pieces.
const PARAMS_BUDGET: usize = 2048;
/// The piece size for appending a long value (an action's arguments).
const PIECE: usize = 1024;

/// Indexes the queries start from. Servers that already have one answer with an error, which
/// is fine: each is created on its own.
const INDEXES: [&str; 5] = [
    "CREATE INDEX FOR (s:Service) ON (s.name)",
    "CREATE INDEX FOR (i:Incident) ON (i.id)",
    "CREATE INDEX FOR (i:Incident) ON (i.service)",
    "CREATE INDEX FOR (a:Action) ON (a.id)",
    "CREATE INDEX FOR (a:Action) ON (a.service)",
];

/// DEPENDS_ON edges carry the name of the mirror that wrote them, so replacing one journal's
/// edges leaves another's alone in a shared graph.
const WRITE_DEPENDENCIES: &str = "UNWIND $rows AS r \
    MERGE (s:Service {name: r.service}) MERGE (d:Service {name: r.depends_on}) \
    MERGE (s)-[:DEPENDS_ON {mirror: r.mirror}]->(d)";

const WRITE_INCIDENTS: &str = "UNWIND $rows AS r \
    MERGE (i:Incident {id: r.id}) \
    SET i.kind = r.kind, i.service = r.service, i.status = r.status, i.opened_at = r.opened_at, i.updated_at = r.updated_at \
    MERGE (s:Service {name: r.service}) \
    MERGE (i)-[:AFFECTED]->(s)";

/// Each incident is SIMILAR_TO the one before it of the same kind on the same service.
const LINK_SIMILAR: &str = "UNWIND $rows AS r \
    MATCH (i:Incident {id: r.id}) \
    MATCH (p:Incident {kind: r.kind, service: r.service}) WHERE p.opened_at < r.opened_at \
    WITH i, p ORDER BY p.opened_at DESC \
    WITH i, collect(p) AS earlier \
    WITH i, earlier[0] AS previous \
    MERGE (i)-[:SIMILAR_TO]->(previous)";

const WRITE_ACTIONS: &str = "UNWIND $rows AS r \
    MERGE (a:Action {id: r.id}) \
    SET a.service = r.service, a.tool = r.tool, a.args = r.args, a.state = r.state, a.planner = r.planner, \
        a.created_at = r.created_at, a.updated_at = r.updated_at \
    MERGE (i:Incident {id: r.incident_id}) \
    MERGE (i)-[:REMEDIATED_BY]->(a)";

const WRITE_OUTCOMES: &str = "UNWIND $rows AS r \
    MATCH (a:Action {id: r.id}) \
    MERGE (o:Outcome {name: r.outcome}) \
    MERGE (a)-[:RESULTED_IN]->(o)";

const FIX_HISTORY: &str = "MATCH (i:Incident)-[:REMEDIATED_BY]->(a:Action {service: $service}) \
    WHERE a.planner <> $escalation \
    OPTIONAL MATCH (a)-[:RESULTED_IN]->(o:Outcome) \
    RETURN i.id AS incident_id, i.kind AS kind, i.opened_at AS opened_at, a.id AS action_id, a.tool AS tool, \
        a.args AS args, a.state AS state, o.name AS outcome, a.updated_at AS at, a.created_at AS created_at \
    ORDER BY created_at DESC, action_id DESC LIMIT $limit";

const UPSTREAM: &str = "MATCH (:Incident {id: $id})-[:AFFECTED]->(s:Service) \
    MATCH p = (s)-[:DEPENDS_ON*1..32]->(u:Service) \
    MATCH (inc:Incident {status: 'open'})-[:AFFECTED]->(u) \
    RETURN u.name AS service, min(length(p)) AS depth, inc.id AS incident_id, inc.kind AS kind \
    ORDER BY depth, service, incident_id";

const BLAST_RADIUS: &str = "MATCH p = (d:Service)-[:DEPENDS_ON*1..32]->(:Service {name: $service}) \
    RETURN d.name AS service, min(length(p)) AS depth ORDER BY depth, service";

/// The mirror's cursor is a node named after the database, so two journals mirrored into one
/// graph (FalkorDB ignores the database name) keep their own.
const READ_CURSOR: &str =
    "MATCH (c:ObsctlSync {name: $name}) RETURN c.incidents_at AS incidents_at, c.actions_at AS actions_at";
const WRITE_CURSOR: &str =
    "MERGE (c:ObsctlSync {name: $name}) SET c.incidents_at = $incidents_at, c.actions_at = $actions_at";

/// How far the mirror has copied the journal: the newest change it wrote, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MirrorCursor {
    pub incidents_at: Timestamp,
    pub actions_at: Timestamp,
}

/// A graph server reached over Bolt.
pub struct BoltGraph {
    pool: Pool,
}

impl BoltGraph {
    pub fn new(config: BoltConfig) -> Self {
        let target = Target {
            address: config.address,
            user: config.user,
            password: config.password,
            database: config.database,
            timeout: config.timeout,
        };
        BoltGraph { pool: Pool::new(target, POOL_SIZE) }
    }

    /// `host:port` of the server, for messages.
    pub fn address(&self) -> &str {
        &self.pool.target().address
    }

    /// Forgets pooled connections, after the server was found unreachable.
    pub fn reconnect_later(&self) {
        self.pool.clear();
    }

    /// The name this mirror's cursor and DEPENDS_ON edges carry: the database's, or `default`.
    fn cursor_name(&self) -> &str {
        self.pool.target().database.as_deref().unwrap_or("default")
    }

    async fn query(&self, cypher: &str, params: Value) -> Result<Vec<Answer>> {
        let mut records = self.pool.query(cypher, quoting::protect(params)).await?;
        records.iter_mut().for_each(|r| r.values.iter_mut().for_each(quoting::restore));
        Ok(records.into_iter().map(Answer).collect())
    }

    /// Creates the indexes the queries use; "already exists" answers are expected and ignored.
    pub async fn ensure_indexes(&self) -> Result<()> {
        for index in INDEXES {
            if let Err(e) = self.query(index, map([])).await {
                tracing::debug!(error = %e, index, "graph index not created");
            }
        }
        // One real round trip, so an unreachable server is an error here.
        self.query("RETURN 1 AS ok", map([])).await.map(drop)
    }

    pub async fn cursor(&self) -> Result<MirrorCursor> {
        let records = self.query(READ_CURSOR, map([("name", self.cursor_name().into())])).await?;
        Ok(records
            .first()
            .map(|r| MirrorCursor {
                incidents_at: Timestamp(r.opt_int("incidents_at").ok().flatten().unwrap_or(0)),
                actions_at: Timestamp(r.opt_int("actions_at").ok().flatten().unwrap_or(0)),
            })
            .unwrap_or_default())
    }

    pub async fn save_cursor(&self, cursor: MirrorCursor) -> Result<()> {
        let params = map([
            ("name", self.cursor_name().into()),
            ("incidents_at", cursor.incidents_at.millis().into()),
            ("actions_at", cursor.actions_at.millis().into()),
        ]);
        self.query(WRITE_CURSOR, params).await.map(drop)
    }

    /// Replaces every DEPENDS_ON edge this mirror wrote.
    pub async fn replace_dependencies(&self, edges: &[(String, String)]) -> Result<()> {
        let mirror = self.cursor_name();
        let delete = "MATCH (:Service)-[d:DEPENDS_ON]->(:Service) WHERE d.mirror = $mirror DELETE d";
        self.query(delete, map([("mirror", mirror.into())])).await?;
        let row = |(s, d): &(String, String)| {
            map([("service", s.as_str().into()), ("depends_on", d.as_str().into()), ("mirror", mirror.into())])
        };
        let rows: Vec<Value> = edges.iter().map(row).collect();
        self.write_rows(WRITE_DEPENDENCIES, &rows).await
    }

    pub async fn write_incidents(&self, incidents: &[Incident]) -> Result<()> {
        let rows: Vec<Value> = incidents
            .iter()
            .map(|i| {
                map([
                    ("id", i.id.as_str().into()),
                    ("kind", i.kind.as_str().into()),
                    ("service", i.service.as_str().into()),
                    ("status", i.status.as_str().into()),
                    ("opened_at", i.opened_at.millis().into()),
                    ("updated_at", i.updated_at.millis().into()),
                ])
            })
            .collect();
        self.write_rows(WRITE_INCIDENTS, &rows).await?;
        self.write_rows(LINK_SIMILAR, &rows).await
    }

    /// Runs `cypher`, which UNWINDs `$rows`, over `rows` in batches under the parameter budget.
    async fn write_rows(&self, cypher: &str, rows: &[Value]) -> Result<()> {
        let mut batch = Vec::new();
        let mut size = 0;
        for row in rows {
            let row_size = packstream::encoded_len(row);
            if !batch.is_empty() && size + row_size > PARAMS_BUDGET {
                self.query(cypher, map([("rows", Value::List(std::mem::take(&mut batch)))])).await?;
                size = 0;
            }
            batch.push(row.clone());
            size += row_size;
        }
        if !batch.is_empty() {
            self.query(cypher, map([("rows", Value::List(batch))])).await?;
        }
        Ok(())
    }

    pub async fn write_actions(&self, actions: &[Action]) -> Result<()> {
        let args: Vec<String> = actions.iter().map(|a| a.args.to_string()).collect();
        let pieces: Vec<Vec<&str>> = args.iter().map(|a| pieces(a, PIECE)).collect();
        let row = |(a, pieces): (&Action, &Vec<&str>)| {
            map([
                ("id", a.id.as_str().into()),
                ("incident_id", a.incident_id.as_str().into()),
                ("service", a.service.as_str().into()),
                ("tool", a.tool.as_str().into()),
                ("args", pieces.first().copied().unwrap_or_default().into()),
                ("state", a.state.as_str().into()),
                ("planner", a.planner.as_str().into()),
                ("outcome", a.outcome.map(|o| o.as_str()).into()),
                ("created_at", a.created_at.millis().into()),
                ("updated_at", a.updated_at.millis().into()),
            ])
        };
        let rows: Vec<Value> = actions.iter().zip(&pieces).map(row).collect();
        self.write_rows(WRITE_ACTIONS, &rows).await?;
        for (action, rest) in actions.iter().zip(&pieces).filter(|(_, p)| p.len() > 1) {
            for piece in &rest[1..] {
                let params = map([("id", action.id.as_str().into()), ("piece", (*piece).into())]);
                self.query("MATCH (a:Action {id: $id}) SET a.args = a.args + $piece", params).await?;
            }
        }
        let decided: Vec<Value> = actions
            .iter()
            .filter_map(|a| Some(map([("id", a.id.as_str().into()), ("outcome", a.outcome?.as_str().into())])))
            .collect();
        self.write_rows(WRITE_OUTCOMES, &decided).await
    }
}

/// `text` cut into pieces of at most `size` bytes, on character boundaries.
fn pieces(text: &str, size: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > size {
        let mut cut = size;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        out.push(head);
        rest = tail;
    }
    out.push(rest);
    out
}

#[async_trait]
impl GraphStore for BoltGraph {
    async fn set_dependencies(&self, edges: &[(String, String)]) -> Result<()> {
        self.replace_dependencies(edges).await
    }

    async fn fix_history(&self, service: &str, limit: u32) -> Result<Vec<FixRecord>> {
        let limit = crate::filters::limit_or_default(limit);
        let params = map([
            ("service", service.into()),
            ("limit", limit.into()),
            ("escalation", obsctl_core::action::ESCALATION_PLANNER.into()),
        ]);
        let records = self.query(FIX_HISTORY, params).await?;
        records.iter().map(rows::fix_record).collect()
    }

    async fn upstream_failures(&self, incident_id: &str) -> Result<Vec<UpstreamFailure>> {
        self.query(UPSTREAM, map([("id", incident_id.into())])).await?.iter().map(rows::upstream).collect()
    }

    async fn blast_radius(&self, service: &str) -> Result<Vec<Reached>> {
        self.query(BLAST_RADIUS, map([("service", service.into())])).await?.iter().map(rows::reached).collect()
    }
}

/// A record of the server's answer, read as the store reads its rows.
struct Answer(Record);

impl From<BoltError> for StoreError {
    fn from(e: BoltError) -> Self {
        StoreError::Backend(e.0)
    }
}

impl DbRow for Answer {
    fn text(&self, col: &str) -> Result<String> {
        self.opt_text(col)?.ok_or_else(|| missing(col))
    }

    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        match self.0.get(col) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(StoreError::Backend(format!("bolt: column {col} is {other:?}, not text"))),
        }
    }

    fn int(&self, col: &str) -> Result<i64> {
        self.opt_int(col)?.ok_or_else(|| missing(col))
    }

    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        match self.0.get(col) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Int(i)) => Ok(Some(*i)),
            Some(other) => Err(StoreError::Backend(format!("bolt: column {col} is {other:?}, not an integer"))),
        }
    }
}

fn missing(col: &str) -> StoreError {
    StoreError::Backend(format!("bolt: the answer has no value for {col}"))
}
