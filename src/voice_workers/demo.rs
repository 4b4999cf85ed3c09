//! The demo workers written by `mcp-gateway demo`: two worker databases with realistic French business data,
//! so a first run has something to list, query and talk to. Camille (`worker_camille.db`) is a sales
//! assistant with `clients` and `commandes`; Julien (`worker_julien.db`) an HR assistant with `employes` and
//! `conges`. Both have every `job_meta` field.
//!
//! Existing files are never overwritten unless asked (`force`); each database is built under a temporary name
//! and renamed into place, so a scanner never sees half a worker.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};
use serde_json::json;

/// Why the demo databases were not written.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{} already exists; pass --force to replace the demo workers", .0.display())]
    Exists(PathBuf),
    #[error("cannot write {}: {}", .0.display(), .1)]
    Io(PathBuf, String),
}

/// The demo workers' ids, in the order they are written.
pub const DEMO_IDS: [&str; 2] = ["camille", "julien"];

/// Write the demo workers into `dir` (created if needed); returns the files written.
pub fn create(dir: &Path, force: bool) -> Result<Vec<PathBuf>, DemoError> {
    std::fs::create_dir_all(dir).map_err(|e| DemoError::Io(dir.to_path_buf(), e.to_string()))?;
    let targets: Vec<PathBuf> = DEMO_IDS.iter().map(|id| dir.join(format!("worker_{id}.db"))).collect();
    if !force {
        if let Some(existing) = targets.iter().find(|p| p.exists()) {
            return Err(DemoError::Exists(existing.clone()));
        }
    }
    let builders: [fn(&Connection) -> rusqlite::Result<()>; 2] = [sales, human_resources];
    for (target, build) in targets.iter().zip(builders) {
        write_atomically(target, build)?;
    }
    Ok(targets)
}

fn write_atomically(target: &Path, build: fn(&Connection) -> rusqlite::Result<()>) -> Result<(), DemoError> {
    let io = |e: &dyn std::fmt::Display| DemoError::Io(target.to_path_buf(), e.to_string());
    let temp = target.with_extension("db.tmp");
    let _ = std::fs::remove_file(&temp);
    {
        let conn = Connection::open(&temp).map_err(|e| io(&e))?;
        conn.execute_batch("BEGIN").map_err(|e| io(&e))?;
        build(&conn).map_err(|e| io(&e))?;
        conn.execute_batch("COMMIT").map_err(|e| io(&e))?;
    }
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", target.display()));
    }
    std::fs::rename(&temp, target).map_err(|e| io(&e))
}

fn job_meta(conn: &Connection, pairs: &[(&str, String)]) -> rusqlite::Result<()> {
    conn.execute_batch("CREATE TABLE job_meta (skey TEXT PRIMARY KEY, svalue TEXT)")?;
    let mut insert = conn.prepare("INSERT INTO job_meta (skey, svalue) VALUES (?1, ?2)")?;
    for (key, value) in pairs {
        insert.execute(params![key, value])?;
    }
    Ok(())
}

fn sales(conn: &Connection) -> rusqlite::Result<()> {
    job_meta(
        conn,
        &[
            ("worker_name", "Camille".into()),
            ("voice", "coral".into()),
            ("avatar_url", "https://api.dicebear.com/7.x/personas/svg?seed=Camille".into()),
            ("statut", "en ligne".into()),
            ("job", "assistante commerciale".into()),
            ("employeur", "Maison Lefèvre SAS".into()),
            ("employe_depuis", "2023-03-01".into()),
            ("gallery", json!(["https://example.com/camille/salon-lyon.jpg"]).to_string()),
            (
                "persona",
                "Je suis Camille, l'assistante commerciale de Maison Lefèvre. Je connais nos clients, leurs \
                 commandes et notre chiffre d'affaires, et je réponds avec des chiffres exacts."
                    .into(),
            ),
            ("email", "camille@maison-lefevre.fr".into()),
            ("bio", "Je suis le portefeuille clients de la région Auvergne-Rhône-Alpes et d'Île-de-France.".into()),
            ("tags", json!(["ventes", "clients", "commandes"]).to_string()),
            (
                "kpis",
                json!({"clients_actifs": 12, "commandes_mois": 9, "ca_mois_eur": 48_250.0, "panier_moyen_eur": 5361.1})
                    .to_string(),
            ),
            ("recent_tools", json!(["worker_query"]).to_string()),
            (
                "recent_transcripts",
                json!([{"role": "user", "text": "Quel est notre meilleur client ce trimestre ?"},
                       {"role": "assistant", "text": "C'est Boulangeries Durand, avec 18 400 euros de commandes."}])
                .to_string(),
            ),
            ("latency_hint_ms", "650".into()),
            ("timezone", "Europe/Paris".into()),
            ("working_hours", json!({"lundi-vendredi": "08:30-18:00"}).to_string()),
            (
                "turn_detection_json",
                json!({"type": "server_vad", "threshold": 0.55, "prefix_padding_ms": 300, "silence_duration_ms": 600})
                    .to_string(),
            ),
        ],
    )?;
    conn.execute_batch(
        "CREATE TABLE clients (id INTEGER PRIMARY KEY, nom TEXT NOT NULL, ville TEXT, secteur TEXT, email TEXT, \
                               client_depuis TEXT);
         CREATE TABLE commandes (id INTEGER PRIMARY KEY, client_id INTEGER NOT NULL REFERENCES clients(id),
                                 date_commande TEXT NOT NULL, montant_ht REAL NOT NULL, statut TEXT NOT NULL);",
    )?;
    let clients = [
        ("Boulangeries Durand", "Lyon", "alimentaire"),
        ("Garage Moreau & Fils", "Villeurbanne", "automobile"),
        ("Pharmacie du Parc", "Grenoble", "santé"),
        ("Atelier Bernard", "Annecy", "artisanat"),
        ("Hôtel Le Belvédère", "Chamonix", "hôtellerie"),
        ("Cabinet Petit Avocats", "Paris", "juridique"),
        ("Fromagerie Roux", "Clermont-Ferrand", "alimentaire"),
        ("Librairie Fontaine", "Saint-Étienne", "commerce"),
        ("Transports Girard", "Vénissieux", "logistique"),
        ("Clinique Vétérinaire Blanc", "Chambéry", "santé"),
        ("Studio Mercier Design", "Paris", "services"),
        ("Domaine Chevalier", "Mâcon", "viticulture"),
    ];
    let mut insert = conn.prepare(
        "INSERT INTO clients (id, nom, ville, secteur, email, client_depuis) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (i, (nom, ville, secteur)) in clients.iter().enumerate() {
        let id = i as i64 + 1;
        let slug: String = nom.to_lowercase().chars().filter(char::is_ascii_alphanumeric).take(16).collect::<String>();
        let since = format!("202{}-{:02}-15", 1 + i % 4, 1 + (i * 5) % 12);
        insert.execute(params![id, nom, ville, secteur, format!("contact@{slug}.fr"), since])?;
    }
    let statuses = ["livrée", "livrée", "facturée", "en préparation", "livrée", "annulée"];
    let mut insert =
        conn.prepare("INSERT INTO commandes (client_id, date_commande, montant_ht, statut) VALUES (?1, ?2, ?3, ?4)")?;
    for n in 0..40_i64 {
        let client = 1 + (n * 7) % 12;
        let date = format!("2026-{:02}-{:02}", 1 + n % 11, 1 + (n * 3) % 28);
        let amount = 850.0 + ((n * 1373) % 9000) as f64 + if n % 2 == 1 { 0.5 } else { 0.0 };
        let status = statuses[(n as usize) % statuses.len()];
        insert.execute(params![client, date, amount, status])?;
    }
    Ok(())
}

fn human_resources(conn: &Connection) -> rusqlite::Result<()> {
    job_meta(
        conn,
        &[
            ("worker_name", "Julien".into()),
            ("voice", "ash".into()),
            ("avatar_url", "https://api.dicebear.com/7.x/personas/svg?seed=Julien".into()),
            ("statut", "disponible".into()),
            ("job", "assistant RH".into()),
            ("employeur", "Maison Lefèvre SAS".into()),
            ("employe_depuis", "2022-09-12".into()),
            ("gallery", json!([]).to_string()),
            (
                "persona",
                "Je suis Julien, l'assistant ressources humaines. Je connais l'équipe, les services et les \
                 congés posés, et je respecte la confidentialité des salaires sauf pour la direction."
                    .into(),
            ),
            ("email", "julien.rh@maison-lefevre.fr".into()),
            ("bio", "Je suis les effectifs, les absences et les soldes de congés.".into()),
            ("tags", json!(["RH", "congés", "effectifs"]).to_string()),
            ("kpis", json!({"effectif": 10, "conges_en_attente": 3, "taux_absence_pct": 2.4}).to_string()),
            ("recent_tools", json!(["worker_query"]).to_string()),
            (
                "recent_transcripts",
                json!([{"role": "user", "text": "Qui est en congé la semaine prochaine ?"},
                       {"role": "assistant", "text": "Deux personnes : Sophie Laurent et Hugo Garnier."}])
                .to_string(),
            ),
            ("latency_hint_ms", "720".into()),
            ("timezone", "Europe/Paris".into()),
            ("working_hours", json!({"lundi-jeudi": "09:00-17:30", "vendredi": "09:00-16:00"}).to_string()),
        ],
    )?;
    conn.execute_batch(
        "CREATE TABLE employes (id INTEGER PRIMARY KEY, prenom TEXT NOT NULL, nom TEXT NOT NULL, poste TEXT,
                                service TEXT, date_entree TEXT, salaire_brut_annuel REAL);
         CREATE TABLE conges (id INTEGER PRIMARY KEY, employe_id INTEGER NOT NULL REFERENCES employes(id),
                              type TEXT NOT NULL, debut TEXT NOT NULL, fin TEXT NOT NULL, jours REAL NOT NULL,
                              statut TEXT NOT NULL);",
    )?;
    let staff = [
        ("Sophie", "Laurent", "responsable commerciale", "ventes", "2019-04-01", 52_000.0),
        ("Hugo", "Garnier", "commercial terrain", "ventes", "2021-02-15", 38_500.0),
        ("Léa", "Faure", "comptable", "finance", "2018-09-03", 41_000.0),
        ("Thomas", "André", "magasinier", "logistique", "2022-06-20", 27_800.0),
        ("Chloé", "Mercier", "chargée de communication", "marketing", "2023-01-09", 35_000.0),
        ("Nicolas", "Lambert", "directeur général", "direction", "2015-05-11", 95_000.0),
        ("Camille", "Bonnet", "assistante administrative", "administration", "2020-11-02", 29_500.0),
        ("Antoine", "François", "technicien SAV", "service client", "2021-08-30", 31_200.0),
        ("Manon", "Rousseau", "contrôleuse de gestion", "finance", "2024-02-05", 44_000.0),
        ("Lucas", "Vincent", "préparateur de commandes", "logistique", "2025-03-17", 26_400.0),
    ];
    let mut insert = conn.prepare(
        "INSERT INTO employes (prenom, nom, poste, service, date_entree, salaire_brut_annuel)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (first, last, role, team, since, salary) in staff {
        insert.execute(params![first, last, role, team, since, salary])?;
    }
    let leaves = [
        (1, "congés payés", "2026-12-21", "2026-12-31", 8.0, "validé"),
        (2, "congés payés", "2026-12-21", "2026-12-24", 4.0, "validé"),
        (3, "RTT", "2026-11-28", "2026-11-28", 1.0, "validé"),
        (4, "maladie", "2026-11-03", "2026-11-05", 3.0, "justifié"),
        (5, "congés payés", "2027-02-16", "2027-02-27", 10.0, "en attente"),
        (6, "congés payés", "2026-08-03", "2026-08-21", 15.0, "validé"),
        (7, "RTT", "2026-12-05", "2026-12-05", 1.0, "en attente"),
        (8, "congés payés", "2027-04-13", "2027-04-17", 5.0, "en attente"),
        (9, "formation", "2026-11-24", "2026-11-25", 2.0, "validé"),
        (10, "congés payés", "2026-10-26", "2026-10-30", 5.0, "validé"),
        (2, "RTT", "2026-10-09", "2026-10-09", 1.0, "validé"),
        (3, "congés payés", "2026-07-13", "2026-07-31", 15.0, "validé"),
    ];
    let mut insert = conn
        .prepare("INSERT INTO conges (employe_id, type, debut, fin, jours, statut) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
    for (employee, kind, start, end, days, status) in leaves {
        insert.execute(params![employee, kind, start, end, days, status])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_refuses_to_overwrite_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let written = create(dir.path(), false).unwrap();
        assert_eq!(written.len(), 2);
        let err = create(dir.path(), false).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        assert!(create(dir.path(), true).is_ok());
        let conn = Connection::open(&written[0]).unwrap();
        let orders: i64 = conn.query_row("SELECT COUNT(*) FROM commandes", [], |r| r.get(0)).unwrap();
        assert_eq!(orders, 40);
    }
}
