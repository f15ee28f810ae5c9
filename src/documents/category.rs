//! The seven document categories: request name ↔ response field ↔ S3 folder.

use crate::s3::keys::DocType;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    PreopPics,
    LabReports,
    Radiology,
    IntraopPics,
    OtNotes,
    PostopPics,
    DischargePics,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::PreopPics,
        Category::LabReports,
        Category::Radiology,
        Category::IntraopPics,
        Category::OtNotes,
        Category::PostopPics,
        Category::DischargePics,
    ];

    /// The name requests use, and the attribute name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Category::PreopPics => "preop_pics",
            Category::LabReports => "lab_reports",
            Category::Radiology => "radiology",
            Category::IntraopPics => "intraop_pics",
            Category::OtNotes => "ot_notes",
            Category::PostopPics => "postop_pics",
            Category::DischargePics => "discharge_pics",
        }
    }

    /// The field name in responses.
    pub fn field(self) -> &'static str {
        match self {
            Category::PreopPics => "preopPics",
            Category::LabReports => "labReports",
            Category::Radiology => "radiology",
            Category::IntraopPics => "intraopPics",
            Category::OtNotes => "otNotes",
            Category::PostopPics => "postopPics",
            Category::DischargePics => "dischargePics",
        }
    }

    pub fn doc_type(self) -> DocType {
        match self {
            Category::PreopPics => DocType::Preop,
            Category::LabReports => DocType::Lab,
            Category::Radiology => DocType::Radiology,
            Category::IntraopPics => DocType::Intraop,
            Category::OtNotes => DocType::OtNotes,
            Category::PostopPics => DocType::Postop,
            Category::DischargePics => DocType::Discharge,
        }
    }

    pub fn for_doc_type(doc_type: DocType) -> Self {
        Self::ALL
            .into_iter()
            .find(|c| c.doc_type() == doc_type)
            .unwrap_or(Category::LabReports)
    }

    /// Accepts the request name or the response field name.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|c| c.name() == s || c.field() == s)
    }

    /// Only lab and radiology reports carry a verified/reviewed stamp.
    pub fn keeps_stamp(self) -> bool {
        matches!(self, Category::LabReports | Category::Radiology)
    }

    /// Most entries a category holds, if capped.
    pub fn cap(self) -> Option<usize> {
        (self == Category::PreopPics).then_some(3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_maps_both_ways() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.name()), Some(c));
            assert_eq!(Category::parse(c.field()), Some(c));
            assert_eq!(Category::for_doc_type(c.doc_type()), c);
        }
        assert_eq!(Category::OtNotes.doc_type().as_str(), "otnotes");
        assert_eq!(Category::parse("xrays"), None);
    }
}
