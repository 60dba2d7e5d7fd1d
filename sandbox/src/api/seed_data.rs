//! The fixed material the seed draws from: Italian names, birthplaces with
//! their real cadastral codes, a clinic's treatment catalogue with prices,
//! practitioners' agendas, episode titles and report texts.

/// A birthplace: name and cadastral (Belfiore) code.
pub const BIRTHPLACES: &[(&str, &str)] = &[
    ("Milano", "F205"),
    ("Roma", "H501"),
    ("Torino", "L219"),
    ("Napoli", "F839"),
    ("Bologna", "A944"),
    ("Firenze", "D612"),
    ("Palermo", "G273"),
    ("Venezia", "L736"),
    ("Genova", "D969"),
    ("Bari", "A662"),
    ("Verona", "L781"),
    ("Padova", "G224"),
    ("Brescia", "B157"),
    ("Catania", "C351"),
    ("Parma", "G337"),
    ("Modena", "F257"),
];

/// Male first names.
#[rustfmt::skip]
pub const MALE_NAMES: &[&str] = &[
    "Marco", "Alessandro", "Giuseppe", "Francesco", "Luca", "Andrea", "Matteo", "Lorenzo", "Davide",
    "Stefano", "Giovanni", "Antonio", "Roberto", "Paolo", "Simone", "Federico", "Riccardo",
    "Niccolò", "Emanuele", "Salvatore", "Pietro", "Tommaso", "Vincenzo", "Fabio", "Claudio",
];

/// Female first names.
#[rustfmt::skip]
pub const FEMALE_NAMES: &[&str] = &[
    "Giulia", "Francesca", "Chiara", "Sara", "Martina", "Valentina", "Alessia", "Federica", "Elena",
    "Silvia", "Anna", "Laura", "Paola", "Roberta", "Elisa", "Beatrice", "Sofia", "Aurora", "Ilaria",
    "Cristina", "Lucia", "Marta", "Noemi", "Caterina", "Rosa",
];

/// Surnames.
#[rustfmt::skip]
pub const SURNAMES: &[&str] = &[
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino",
    "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo",
    "Lombardi", "Moretti", "Barbieri", "Fontana", "Santoro", "Mariani", "Rinaldi", "Caruso",
    "Ferrara", "Galli", "Martini", "Leone", "Longo", "Gentile", "Martinelli", "Vitale", "Lombardo",
    "Serra", "Coppola", "De Santis", "D'Angelo", "Marchetti", "Parisi", "Villa", "Conte", "Ferraro",
    "Ferri", "Fabbri", "Bianco", "Marini", "Grasso", "Valentini", "Messina", "Sala", "De Angelis",
    "Gatti", "Pellegrini", "Palumbo", "Sanna", "Farina", "Rizzi", "Monti",
];

/// A treatment of the catalogue, with its prices in both price lists.
pub struct TreatmentSeed {
    /// Identifier.
    pub id: &'static str,
    /// Catalogue code.
    pub code: &'static str,
    /// Name.
    pub name: &'static str,
    /// Duration.
    pub minutes: u32,
    /// Category.
    pub category: &'static str,
    /// Price for private patients, cents.
    pub private_cents: i64,
    /// Price under agreements (convenzioni), cents.
    pub agreement_cents: i64,
    /// VAT: health services are exempt (art. 10 DPR 633/72), certificates for
    /// insurers and copies of records are not.
    pub vat: u8,
}

#[allow(clippy::too_many_arguments)]
const fn t(
    id: &'static str,
    code: &'static str,
    name: &'static str,
    minutes: u32,
    category: &'static str,
    private_cents: i64,
    agreement_cents: i64,
    vat: u8,
) -> TreatmentSeed {
    TreatmentSeed {
        id,
        code,
        name,
        minutes,
        category,
        private_cents,
        agreement_cents,
        vat,
    }
}

/// The catalogue.
pub const TREATMENTS: &[TreatmentSeed] = &[
    t(
        "tr-visita-cardiologica",
        "VCAR",
        "Visita cardiologica",
        30,
        "Cardiologia",
        12000,
        8500,
        0,
    ),
    t(
        "tr-ecg",
        "ECG",
        "Elettrocardiogramma (ECG)",
        15,
        "Cardiologia",
        5000,
        3000,
        0,
    ),
    t(
        "tr-ecocardiogramma",
        "ECOC",
        "Ecocardiogramma color doppler",
        30,
        "Cardiologia",
        15000,
        10000,
        0,
    ),
    t(
        "tr-holter",
        "HOLT",
        "Holter ECG 24 ore",
        20,
        "Cardiologia",
        11000,
        7000,
        0,
    ),
    t(
        "tr-eco-addome",
        "ECOA",
        "Ecografia addome completo",
        30,
        "Diagnostica per immagini",
        10000,
        7000,
        0,
    ),
    t(
        "tr-eco-tiroide",
        "ECOT",
        "Ecografia tiroide",
        20,
        "Diagnostica per immagini",
        7000,
        5000,
        0,
    ),
    t(
        "tr-visita-dermatologica",
        "VDER",
        "Visita dermatologica",
        20,
        "Dermatologia",
        10000,
        7000,
        0,
    ),
    t(
        "tr-mappatura-nei",
        "MNEI",
        "Mappatura nei in epiluminescenza",
        30,
        "Dermatologia",
        12000,
        9000,
        0,
    ),
    t(
        "tr-visita-ortopedica",
        "VORT",
        "Visita ortopedica",
        30,
        "Ortopedia",
        12000,
        8500,
        0,
    ),
    t(
        "tr-infiltrazione",
        "INFI",
        "Infiltrazione articolare",
        20,
        "Ortopedia",
        8000,
        6000,
        0,
    ),
    t(
        "tr-fisioterapia",
        "FISI",
        "Seduta di fisioterapia",
        45,
        "Fisioterapia",
        4500,
        3500,
        0,
    ),
    t(
        "tr-tecarterapia",
        "TECA",
        "Tecarterapia",
        30,
        "Fisioterapia",
        4000,
        3000,
        0,
    ),
    t(
        "tr-visita-ginecologica",
        "VGIN",
        "Visita ginecologica",
        30,
        "Ginecologia",
        12000,
        9000,
        0,
    ),
    t(
        "tr-pap-test",
        "PAPT",
        "Pap test",
        15,
        "Ginecologia",
        5000,
        3500,
        0,
    ),
    t(
        "tr-visita-oculistica",
        "VOCU",
        "Visita oculistica",
        30,
        "Oculistica",
        11000,
        8000,
        0,
    ),
    t(
        "tr-spirometria",
        "SPIR",
        "Spirometria",
        20,
        "Pneumologia",
        6000,
        4000,
        0,
    ),
    t(
        "tr-visita-endocrinologica",
        "VEND",
        "Visita endocrinologica",
        30,
        "Endocrinologia",
        12000,
        8500,
        0,
    ),
    t(
        "tr-visita-medicina-generale",
        "VMGE",
        "Visita di medicina generale",
        20,
        "Medicina generale",
        7000,
        5000,
        0,
    ),
    t(
        "tr-prelievo",
        "PREL",
        "Prelievo ematico",
        10,
        "Laboratorio",
        1500,
        1000,
        0,
    ),
    t(
        "tr-certificato-sportivo",
        "CSPO",
        "Certificato medico sportivo agonistico",
        30,
        "Medicina dello sport",
        6000,
        5000,
        0,
    ),
    t(
        "tr-certificato-assicurativo",
        "CASS",
        "Certificato medico per uso assicurativo",
        20,
        "Medicina legale",
        8000,
        8000,
        22,
    ),
    t(
        "tr-copia-documentazione",
        "COPD",
        "Copia documentazione clinica",
        5,
        "Segreteria",
        1500,
        1500,
        22,
    ),
];

/// An agenda and the treatments booked on it.
pub struct AgendaSeed {
    /// Identifier.
    pub id: &'static str,
    /// Practitioner.
    pub practitioner: &'static str,
    /// Specialty.
    pub specialty: &'static str,
    /// ISO weekdays (1 = Monday).
    pub weekdays: &'static str,
    /// Working periods.
    pub hours: &'static str,
    /// Slot length.
    pub slot_minutes: u32,
    /// Treatments booked on it.
    pub treatments: &'static [&'static str],
}

/// `tenant-abc123`'s agendas.
pub const AGENDAS_MAIN: &[AgendaSeed] = &[
    AgendaSeed {
        id: "ag-cardiologia",
        practitioner: "Dott. Paolo Conti",
        specialty: "Cardiologia",
        weekdays: "12345",
        hours: "08:30-13:00,14:00-17:30",
        slot_minutes: 30,
        treatments: &[
            "tr-visita-cardiologica",
            "tr-ecg",
            "tr-ecocardiogramma",
            "tr-holter",
        ],
    },
    AgendaSeed {
        id: "ag-ortopedia",
        practitioner: "Dott.ssa Elena Marchetti",
        specialty: "Ortopedia",
        weekdays: "135",
        hours: "09:00-13:00,14:30-18:30",
        slot_minutes: 30,
        treatments: &["tr-visita-ortopedica", "tr-infiltrazione"],
    },
    AgendaSeed {
        id: "ag-dermatologia",
        practitioner: "Dott. Stefano Greco",
        specialty: "Dermatologia",
        weekdays: "24",
        hours: "14:00-19:00",
        slot_minutes: 20,
        treatments: &["tr-visita-dermatologica", "tr-mappatura-nei"],
    },
    AgendaSeed {
        id: "ag-fisioterapia",
        practitioner: "Dott.ssa Chiara Fontana",
        specialty: "Fisioterapia",
        weekdays: "123456",
        hours: "08:00-12:00,15:00-19:00",
        slot_minutes: 45,
        treatments: &["tr-fisioterapia", "tr-tecarterapia"],
    },
];

/// `tenant-def456`'s agendas.
pub const AGENDAS_OTHER: &[AgendaSeed] = &[
    AgendaSeed {
        id: "ag-medicina-generale",
        practitioner: "Dott. Antonio Russo",
        specialty: "Medicina generale",
        weekdays: "12345",
        hours: "09:00-12:30",
        slot_minutes: 20,
        treatments: &["tr-visita-medicina-generale", "tr-prelievo"],
    },
    AgendaSeed {
        id: "ag-ginecologia",
        practitioner: "Dott.ssa Francesca Gallo",
        specialty: "Ginecologia",
        weekdays: "24",
        hours: "15:00-19:00",
        slot_minutes: 30,
        treatments: &["tr-visita-ginecologica", "tr-pap-test"],
    },
];

/// The treatments `tenant-def456` offers.
pub const TREATMENTS_OTHER: &[&str] = &[
    "tr-visita-medicina-generale",
    "tr-prelievo",
    "tr-visita-ginecologica",
    "tr-pap-test",
    "tr-ecg",
    "tr-eco-addome",
    "tr-certificato-sportivo",
    "tr-certificato-assicurativo",
];

/// Episode titles with the treatment typically reported on.
pub const EPISODES: &[(&str, &str)] = &[
    ("Follow-up ipertensione arteriosa", "tr-visita-cardiologica"),
    ("Fibrillazione atriale parossistica", "tr-ecocardiogramma"),
    ("Dolore toracico atipico", "tr-ecg"),
    ("Palpitazioni da indagare", "tr-holter"),
    ("Riabilitazione ginocchio destro", "tr-fisioterapia"),
    ("Lombalgia cronica", "tr-visita-ortopedica"),
    ("Tendinopatia della cuffia dei rotatori", "tr-infiltrazione"),
    ("Distorsione caviglia sinistra", "tr-visita-ortopedica"),
    ("Controllo nevi", "tr-mappatura-nei"),
    ("Dermatite atopica", "tr-visita-dermatologica"),
    ("Psoriasi", "tr-visita-dermatologica"),
    ("Cervicalgia", "tr-tecarterapia"),
    ("Nodulo tiroideo", "tr-eco-tiroide"),
    ("Dolore addominale ricorrente", "tr-eco-addome"),
];

/// Findings a report may state, by category.
pub const FINDINGS: &[&str] = &[
    "Obiettività nella norma. Si consiglia controllo tra sei mesi.",
    "Quadro stabile rispetto al precedente controllo. Prosegue la terapia in atto.",
    "Lieve miglioramento clinico. Si prescrive ciclo di dieci sedute.",
    "Reperto compatibile con il quesito clinico. Si rimanda al medico curante.",
    "Non si rilevano alterazioni significative. Nessuna indicazione a ulteriori accertamenti.",
    "Si consiglia approfondimento diagnostico e rivalutazione con esito.",
];
