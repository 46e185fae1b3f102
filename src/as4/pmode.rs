//! DIGG's P-mode for SDK as constants: the transport profile C3.2.1 §2.3.1
//! and the Domibus P-mode DIGG publishes (`as4/domibus-pmode-example.xml`).
//! Where the profile is silent the eDelivery AS4 1.15 common profile holds.

/// ebMS 3 core namespace (`eb:`).
pub const EBMS_NS: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/";

/// `PMode.BusinessInfo.Service` (C3.2.1 §2.3.1.a; the SMP process identifier).
pub const SERVICE: &str = "bdx:noprocess";
/// `PMode.BusinessInfo.Service.type` (§2.3.1.b).
pub const SERVICE_TYPE: &str = "urn:fdc:digg.se:edelivery:process";
/// `PMode.BusinessInfo.MPC` (§2.3.1.d).
pub const DEFAULT_MPC: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/defaultMPC";
/// `PMode.MEP` (§2.3.1.h) and `PMode.MEPBinding` (§2.3.1.i): one-way push.
pub const MEP_ONE_WAY: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/oneWay";
pub const MEP_BINDING_PUSH: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/push";
/// `PMode.Protocol.Address` transport profile, as published in SMP (§2.3.1.e).
pub const TRANSPORT_PROFILE: &str = "digg-transport-as4-v1_0";

/// Party type of both access points (§2.3.1.k, n). The party id is the
/// common name of the access point's certificate (§2.3.1.j, m).
pub const PARTY_TYPE: &str = "urn:fdc:digg.se:edelivery:transportprofile:as4:partytype:ap";
/// `PMode.Initiator.Role` (§2.3.1.l) and `PMode.Responder.Role` (§2.3.1.o).
pub const INITIATOR_ROLE: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/initiator";
pub const RESPONDER_ROLE: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/responder";

/// Message properties naming the participants (§2.3.1.p, q): C1 and C4.
pub const ORIGINAL_SENDER: &str = "originalSender";
pub const FINAL_RECIPIENT: &str = "finalRecipient";
/// Type of both properties: SDK participant ids are `0203:...`.
pub const PARTICIPANT_ID_TYPE: &str = "iso6523-actorid-upis";

/// The payload part: DIGG's payload profile `businessContentPayload` is
/// `cid:message`, MIME type `text/xml`, and Domibus checks both.
pub const PAYLOAD_CONTENT_ID: &str = "message";
pub const PAYLOAD_MIME_TYPE: &str = "text/xml";
/// Also accepted inbound as the payload's MIME type (an XHE is XML).
pub const PAYLOAD_MIME_TYPE_ALT: &str = "application/xml";
/// The leg has `compressPayloads="true"`: AS4 compression (AS4 §3.1) with gzip.
pub const COMPRESSION_TYPE: &str = "application/gzip";

/// The two legs of DIGG's process, by `PMode.BusinessInfo.Action` (§2.3.1.c):
/// `«scheme id»::«document identifier»`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// An SDK message (XHE with `MessageWithAttachments` v3).
    Message,
    /// An SDK message receipt (XHE with an ApplicationResponse), sent back
    /// as a user message of its own.
    Receipt,
}

impl Action {
    pub const ALL: [Action; 2] = [Action::Message, Action::Receipt];

    pub const fn value(self) -> &'static str {
        match self {
            Action::Message => "busdox-docid-qns::urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc",
            Action::Receipt => "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::ApplicationResponse##fdc:digg.se:edelivery:messagetype:response:1::2.1::tm-base-ext-sigenc",
        }
    }

    pub fn from_value(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.value() == value)
    }
}
