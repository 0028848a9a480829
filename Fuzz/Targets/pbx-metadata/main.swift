// A PBX's metadata file as pbx-ingest reads it (flat or FreeSWITCH mod_json_cdr): any bytes
// give the call's fields or a reason, never a trap.
import Foundation
import FuzzDriver
import Telephony

fuzz { input in
    if let metadata = try? PBXMetadata.parse(Data(input)) {
        precondition(!metadata.startedAt.isEmpty, "started_at is given")
    }
}
