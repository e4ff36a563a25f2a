//! The UPnP descriptions of acebox's one device: the device description at `/device.xml` (a
//! MediaServer:1 that TVs, media servers and control points read after SSDP finds it) and the
//! service descriptions (SCPD) of its ContentDirectory:1 and ConnectionManager:1.
//!
//! This module owns what those documents say; the actions themselves are `dlna`'s. The SCPDs
//! are written from one table of actions and state variables, so an action's arguments and
//! the variables they name cannot disagree. Text from outside (the device's name) goes through
//! the crate's one XML escaping function. It never reads a request.

use core::fmt::Write;

use crate::app::Device;
use crate::xml::push_escaped;

/// The paths the descriptions name, relative to the device description's URL.
pub const DEVICE_PATH: &str = "/device.xml";
pub const CONTENT_DIRECTORY_SCPD: &str = "/ContentDirectory.xml";
pub const CONNECTION_MANAGER_SCPD: &str = "/ConnectionManager.xml";
pub const CONTENT_DIRECTORY_CONTROL: &str = "/ContentDirectory/control";
pub const CONNECTION_MANAGER_CONTROL: &str = "/ConnectionManager/control";

/// The service types, as SSDP, the descriptions and SOAPACTION headers name them.
pub const CONTENT_DIRECTORY: &str = "urn:schemas-upnp-org:service:ContentDirectory:1";
pub const CONNECTION_MANAGER: &str = "urn:schemas-upnp-org:service:ConnectionManager:1";

/// The device description: a MediaServer:1 named as the device is, with its two services.
/// URLs are relative to where it was fetched, so one text serves every interface.
pub fn device_xml(device: &Device) -> String {
    let mut out = String::with_capacity(1536);
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<root xmlns=\"urn:schemas-upnp-org:device-1-0\" \
         xmlns:dlna=\"urn:schemas-dlna-org:device-1-0\"><specVersion><major>1</major><minor>0</minor>\
         </specVersion><device><deviceType>urn:schemas-upnp-org:device:MediaServer:1</deviceType>\
         <dlna:X_DLNADOC>DMS-1.50</dlna:X_DLNADOC><friendlyName>",
    );
    push_escaped(&mut out, &device.name);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "</friendlyName><manufacturer>acebox</manufacturer><modelName>acebox</modelName>\
         <modelNumber>{version}</modelNumber><serialNumber>{id:08X}</serialNumber>\
         <UDN>uuid:{uuid}</UDN><presentationURL>/</presentationURL><serviceList>",
        version = env!("CARGO_PKG_VERSION"),
        id = device.id,
        uuid = device.uuid,
    );
    for (kind, id, scpd, control) in [
        (
            CONTENT_DIRECTORY,
            "ContentDirectory",
            CONTENT_DIRECTORY_SCPD,
            CONTENT_DIRECTORY_CONTROL,
        ),
        (
            CONNECTION_MANAGER,
            "ConnectionManager",
            CONNECTION_MANAGER_SCPD,
            CONNECTION_MANAGER_CONTROL,
        ),
    ] {
        let _ = write!(
            out,
            "<service><serviceType>{kind}</serviceType><serviceId>urn:upnp-org:serviceId:{id}\
             </serviceId><SCPDURL>{scpd}</SCPDURL><controlURL>{control}</controlURL>\
             <eventSubURL>/{id}/event</eventSubURL></service>"
        );
    }
    out.push_str("</serviceList></device></root>\n");
    out
}

/// An action's argument: its name, whether it is an output, its state variable.
type Arg = (&'static str, bool, &'static str);

/// ContentDirectory:1's actions acebox answers, with their arguments in order.
const CD_ACTIONS: &[(&str, &[Arg])] = &[
    (
        "Browse",
        &[
            ("ObjectID", false, "A_ARG_TYPE_ObjectID"),
            ("BrowseFlag", false, "A_ARG_TYPE_BrowseFlag"),
            ("Filter", false, "A_ARG_TYPE_Filter"),
            ("StartingIndex", false, "A_ARG_TYPE_Index"),
            ("RequestedCount", false, "A_ARG_TYPE_Count"),
            ("SortCriteria", false, "A_ARG_TYPE_SortCriteria"),
            ("Result", true, "A_ARG_TYPE_Result"),
            ("NumberReturned", true, "A_ARG_TYPE_Count"),
            ("TotalMatches", true, "A_ARG_TYPE_Count"),
            ("UpdateID", true, "A_ARG_TYPE_UpdateID"),
        ],
    ),
    (
        "GetSearchCapabilities",
        &[("SearchCaps", true, "SearchCapabilities")],
    ),
    (
        "GetSortCapabilities",
        &[("SortCaps", true, "SortCapabilities")],
    ),
    ("GetSystemUpdateID", &[("Id", true, "SystemUpdateID")]),
];

/// ContentDirectory:1's state variables: name, type, whether evented.
const CD_VARIABLES: &[(&str, &str, bool)] = &[
    ("A_ARG_TYPE_ObjectID", "string", false),
    ("A_ARG_TYPE_BrowseFlag", "string", false),
    ("A_ARG_TYPE_Filter", "string", false),
    ("A_ARG_TYPE_Index", "ui4", false),
    ("A_ARG_TYPE_Count", "ui4", false),
    ("A_ARG_TYPE_SortCriteria", "string", false),
    ("A_ARG_TYPE_Result", "string", false),
    ("A_ARG_TYPE_UpdateID", "ui4", false),
    ("SearchCapabilities", "string", false),
    ("SortCapabilities", "string", false),
    ("SystemUpdateID", "ui4", true),
];

const CM_ACTIONS: &[(&str, &[Arg])] = &[(
    "GetProtocolInfo",
    &[
        ("Source", true, "SourceProtocolInfo"),
        ("Sink", true, "SinkProtocolInfo"),
    ],
)];

const CM_VARIABLES: &[(&str, &str, bool)] = &[
    ("SourceProtocolInfo", "string", true),
    ("SinkProtocolInfo", "string", true),
    ("CurrentConnectionIDs", "string", true),
];

/// The ContentDirectory:1 service description.
pub fn content_directory_scpd() -> String {
    scpd(CD_ACTIONS, CD_VARIABLES)
}

/// The ConnectionManager:1 service description.
pub fn connection_manager_scpd() -> String {
    scpd(CM_ACTIONS, CM_VARIABLES)
}

fn scpd(actions: &[(&str, &[Arg])], variables: &[(&str, &str, bool)]) -> String {
    let mut out = String::with_capacity(2048);
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<scpd xmlns=\"urn:schemas-upnp-org:service-1-0\">\
         <specVersion><major>1</major><minor>0</minor></specVersion><actionList>",
    );
    for (name, args) in actions {
        let _ = write!(out, "<action><name>{name}</name><argumentList>");
        for (arg, output, variable) in *args {
            let direction = if *output { "out" } else { "in" };
            let _ = write!(
                out,
                "<argument><name>{arg}</name><direction>{direction}</direction>\
                 <relatedStateVariable>{variable}</relatedStateVariable></argument>"
            );
        }
        out.push_str("</argumentList></action>");
    }
    out.push_str("</actionList><serviceStateTable>");
    for (name, kind, evented) in variables {
        let events = if *evented { "yes" } else { "no" };
        let _ = write!(
            out,
            "<stateVariable sendEvents=\"{events}\"><name>{name}</name><dataType>{kind}</dataType>"
        );
        if *name == "A_ARG_TYPE_BrowseFlag" {
            out.push_str(
                "<allowedValueList><allowedValue>BrowseMetadata</allowedValue>\
                 <allowedValue>BrowseDirectChildren</allowedValue></allowedValueList>",
            );
        }
        out.push_str("</stateVariable>");
    }
    out.push_str("</serviceStateTable></scpd>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_argument_names_a_declared_variable() {
        for (actions, variables) in [(CD_ACTIONS, CD_VARIABLES), (CM_ACTIONS, CM_VARIABLES)] {
            for (action, args) in actions {
                for (arg, _, variable) in *args {
                    assert!(
                        variables.iter().any(|(v, _, _)| v == variable),
                        "{action}/{arg}: {variable}"
                    );
                }
            }
        }
        let cd = content_directory_scpd();
        assert!(cd.contains("<action><name>Browse</name>"));
        assert!(cd.contains("<allowedValue>BrowseDirectChildren</allowedValue>"));
        assert!(connection_manager_scpd().contains("<name>GetProtocolInfo</name>"));
    }

    #[test]
    fn the_device_names_itself_escaped() {
        let device = Device {
            announce: true,
            id: 0xA123_4567,
            uuid: "0c2c4a1e-3f4b-4c5d-8e6f-7a8b9c0d1e2f".into(),
            name: "acebox <&> \"den\"".into(),
        };
        let xml = device_xml(&device);
        assert!(xml.contains("<friendlyName>acebox &lt;&amp;&gt; &quot;den&quot;</friendlyName>"));
        assert!(xml.contains("<UDN>uuid:0c2c4a1e-3f4b-4c5d-8e6f-7a8b9c0d1e2f</UDN>"));
        assert!(xml.contains("<serialNumber>A1234567</serialNumber>"));
        assert!(xml.contains("<controlURL>/ContentDirectory/control</controlURL>"));
        assert!(xml.contains("<deviceType>urn:schemas-upnp-org:device:MediaServer:1</deviceType>"));
    }
}
