// What each setting means to the person running the office: a plain label, one
// sentence of help, its unit, and whether it is an everyday setting or an
// advanced one. Keys are the dotted paths of src/core/config.h (the JSON of GET
// /api/v1/settings); this table is the one place that describes them. A key
// missing here still shows, with a label derived from its name, under Advanced.

export type SettingGroup = 'everyday' | 'advanced';

export interface SettingChoice {
  value: string | number;
  label: string;
}

export interface SettingHelp {
  label: string;
  help: string;
  group: SettingGroup;
  unit?: string;
  // Offered as a list; a stored value that is none of them is kept as "Custom".
  choices?: SettingChoice[];
}

// Titles of the config file's sections, in the order they are shown.
export const SECTION_TITLES: Record<string, string> = {
  notify: 'Greetings and notifications',
  recognition: 'Recognition',
  retention: 'Keeping data',
  serve: 'Visits and the server',
  auth: 'Sign-in',
  quality: 'Face picture quality',
  edge: 'Cameras',
  vision: 'Face detection',
  http: 'Web server',
  aws: 'Rekognition-compatible API',
  bus: 'Message bus',
  objects: 'Picture storage',
  database: 'Database',
  general: 'General',
};

const everyday = 'everyday' as const;
const advanced = 'advanced' as const;

export const SETTINGS_HELP: Record<string, SettingHelp> = {
  log_level: {
    label: 'Log detail',
    help: 'How much the server writes to its log; "info" suits everyday use.',
    group: advanced,
    choices: ['trace', 'debug', 'info', 'warn', 'error', 'off'].map((v) => ({ value: v, label: v })),
  },

  // Greetings and notifications
  'notify.greet': {
    label: 'Greet colleagues in chat',
    help: 'Post a welcome in the Slack channel when someone known arrives.',
    group: everyday,
  },
  'notify.greet_cooldown_min': {
    label: 'Wait before greeting the same person again',
    help: 'After a greeting, the same person is not greeted again for this long (0: once per visit).',
    unit: 'minutes',
    group: everyday,
  },
  'notify.greet_first_of_day_only': {
    label: 'Greet only the first arrival of the day',
    help: 'Each person is greeted at most once a day, however often they come and go.',
    group: everyday,
  },
  'notify.group_greeting_s': {
    label: 'Greet people arriving together in one message',
    help: 'People who arrive within this time of a greeting are added to it (0: one message each).',
    unit: 'seconds',
    group: everyday,
  },
  'notify.quiet_hours': {
    label: 'Quiet hours',
    help: 'No greetings during these hours, e.g. "22:00-06:00"; empty: none.',
    unit: 'HH:MM-HH:MM',
    group: everyday,
  },
  'notify.ask_unknown': {
    label: 'Ask "who is this?" about strangers',
    help: 'Post a clear picture of an unknown face to the team so someone can name or ignore it.',
    group: everyday,
  },
  'notify.office_hours': {
    label: 'Office hours',
    help: 'A stranger seen outside these hours raises an after-hours alert.',
    unit: 'HH:MM-HH:MM',
    group: everyday,
  },
  'notify.alert_channel': {
    label: 'After-hours alert channel',
    help: 'Slack channel id that gets the after-hours alerts; empty: no alerts.',
    group: everyday,
  },
  'notify.alert_mention': {
    label: 'Who an alert notifies',
    help: 'Mention put in front of every after-hours alert, e.g. <!here> or <@U123>.',
    group: everyday,
  },
  'notify.slack_channel': {
    label: 'Slack channel',
    help: 'Channel id (e.g. C0123456) where greetings and "who is this?" questions go.',
    group: everyday,
  },
  'notify.slack_bot_token': {
    label: 'Slack bot token',
    help: 'The xoxb-… token of the Concierge Slack app; empty: no Slack.',
    group: everyday,
  },
  'notify.slack_signing_secret': {
    label: 'Slack signing secret',
    help: 'Proves that button presses in Slack really come from Slack.',
    group: everyday,
  },
  'notify.digest_time': {
    label: 'Daily summary time',
    help: 'When to post the day in review (arrivals, open questions, after-hours events); empty: never.',
    unit: 'HH:MM',
    group: everyday,
  },
  'notify.digest_channel': {
    label: 'Daily summary channel',
    help: 'Slack channel id for the daily summary; empty: the greeting channel.',
    group: everyday,
  },
  'notify.webhook_url': {
    label: 'Webhook address',
    help: 'Every event is also posted as JSON to this address; empty: no webhook.',
    group: everyday,
  },
  'notify.webhook_secret': {
    label: 'Webhook secret',
    help: 'Key that signs each webhook call so the receiver can trust it.',
    group: everyday,
  },
  'notify.home_assistant': {
    label: 'Home Assistant',
    help: 'Show each person as present or away, and the last stranger per camera, in Home Assistant.',
    group: everyday,
  },
  'notify.mqtt_events': {
    label: 'Publish events on MQTT',
    help: 'Publish arrivals and strangers on the message bus for other systems.',
    group: advanced,
  },
  'notify.home_assistant_prefix': {
    label: 'Home Assistant discovery prefix',
    help: 'Topic prefix Home Assistant listens on for new devices.',
    group: advanced,
  },
  'notify.spoof_live_threshold': {
    label: 'Photo or screen warning below',
    help: 'Faces scoring below this liveness score are flagged as a possible photo or screen.',
    unit: 'score 0–1',
    group: advanced,
  },
  'notify.cluster_threshold': {
    label: 'Same stranger if this similar',
    help: 'How alike two unknown faces must be to be asked about as one stranger.',
    unit: 'similarity 0–1',
    group: advanced,
  },
  'notify.cluster_window_hours': {
    label: 'Group a stranger\u2019s sightings over',
    help: 'Unknown faces seen further apart than this are asked about separately.',
    unit: 'hours',
    group: advanced,
  },
  'notify.slack_api_url': {
    label: 'Slack API address',
    help: 'Where Slack calls go; only tests change it.',
    group: advanced,
  },
  'notify.request_timeout_ms': {
    label: 'Notification call time limit',
    help: 'One call to Slack or the webhook gives up after this long.',
    unit: 'ms',
    group: advanced,
  },
  'notify.call_attempts': {
    label: 'Attempts per call',
    help: 'How often one Slack or webhook call is tried before the message waits for later.',
    unit: 'attempts',
    group: advanced,
  },
  'notify.backoff_initial_ms': {
    label: 'First retry after',
    help: 'Wait before retrying a failed notification; it doubles with each retry.',
    unit: 'ms',
    group: advanced,
  },
  'notify.backoff_max_ms': {
    label: 'Longest wait between retries',
    help: 'The doubling retry wait stops growing here.',
    unit: 'ms',
    group: advanced,
  },
  'notify.max_retry_after_s': {
    label: 'Longest Slack "slow down" honoured',
    help: 'A longer wait asked for by Slack is cut to this.',
    unit: 'seconds',
    group: advanced,
  },
  'notify.outbox_max_attempts': {
    label: 'Deliveries before giving up',
    help: 'A notification that failed this often is marked failed and no longer retried.',
    unit: 'attempts',
    group: advanced,
  },
  'notify.outbox_lease_s': {
    label: 'Take over a stopped server\u2019s message after',
    help: 'A notification claimed by a server that died is sent by another after this long.',
    unit: 'seconds',
    group: advanced,
  },

  // Recognition
  'recognition.target_false_welcome_rate': {
    label: 'How sure before greeting by name',
    help: 'How many strangers may be mistaken for a colleague; stricter asks about colleagues more often.',
    group: everyday,
    choices: [
      { value: 0.0001, label: 'Very strict (1 in 10,000)' },
      { value: 0.001, label: 'Strict (1 in 1,000)' },
      { value: 0.01, label: 'Relaxed (1 in 100)' },
    ],
  },
  'recognition.learn_faces': {
    label: 'Keep learning faces',
    help: 'Confident, clear sightings are added to the person\u2019s faces, so haircuts and glasses are followed.',
    group: everyday,
  },
  'recognition.gallery_cap': {
    label: 'Learned faces per person',
    help: 'At most this many learned faces are kept per person (enrolled ones always stay).',
    unit: 'faces',
    group: advanced,
  },
  'recognition.collection': {
    label: 'Face collection name',
    help: 'Name of the collection the cameras search.',
    group: advanced,
  },
  'recognition.search_mode': {
    label: 'Search method',
    help: 'Compare with each person\u2019s average face or with their single best face.',
    group: advanced,
    choices: [
      { value: 'centroid', label: 'Average face per person' },
      { value: 'best', label: 'Best face per person' },
    ],
  },
  'recognition.ann_min_faces': {
    label: 'Fast search from',
    help: 'With this many faces or more, search uses an index instead of comparing every face (0: never).',
    unit: 'faces',
    group: advanced,
  },
  'recognition.ann_ef_search': {
    label: 'Fast search thoroughness',
    help: 'Higher finds more faces in the index but takes longer.',
    unit: 'candidates',
    group: advanced,
  },
  'recognition.ann_m': {
    label: 'Fast search links per face',
    help: 'More links find faces more reliably in very large collections but take memory and start-up time (32 for a million faces).',
    unit: 'links',
    group: advanced,
  },
  'recognition.ann_ef_construction': {
    label: 'Fast search build effort',
    help: 'Higher builds a better index, more slowly (200 for a million faces).',
    unit: 'candidates',
    group: advanced,
  },

  // Keeping data
  'retention.unknown_crops_days': {
    label: 'Keep pictures of strangers for',
    help: 'Pictures of faces nobody named are deleted after this many days.',
    unit: 'days',
    group: everyday,
  },
  'retention.known_crops_days': {
    label: 'Keep pictures of colleagues for',
    help: 'Pictures of recognised arrivals are deleted after this many days (enrolled faces stay).',
    unit: 'days',
    group: everyday,
  },
  'retention.events_days': {
    label: 'Keep visit history for',
    help: 'Sightings, visits, sent messages and audit entries older than this are deleted.',
    unit: 'days',
    group: everyday,
  },
  'retention.embeddings_only': {
    label: 'Keep no face pictures',
    help: 'Delete every face picture once it was decided; only the face measurements are kept.',
    group: everyday,
  },
  'retention.interval_s': {
    label: 'Clean up every',
    help: 'How often old data is looked for and deleted.',
    unit: 'seconds',
    group: advanced,
  },

  // Visits and the server
  'serve.visit_window_s': {
    label: 'One visit lasts until unseen for',
    help: 'Sightings of one person closer together than this count as one visit.',
    unit: 'seconds',
    group: everyday,
  },
  'serve.max_payload_bytes': {
    label: 'Largest sighting',
    help: 'Sightings bigger than this are refused.',
    unit: 'bytes',
    group: advanced,
  },
  'serve.workers': {
    label: 'Recognition workers',
    help: 'Faces recognised at the same time; more uses more processor cores.',
    unit: 'workers',
    group: advanced,
  },
  'serve.collection_refresh_ms': {
    label: 'Look for face changes every',
    help: 'How often changes made by other processes (enrol, tag, forget) are picked up (0: never).',
    unit: 'ms',
    group: advanced,
  },
  'serve.ingest_connections': {
    label: 'Broker connections',
    help: 'Sightings taken from the message broker at the same time.',
    unit: 'connections',
    group: advanced,
  },
  'serve.stop_timeout_ms': {
    label: 'Finish work on stop for at most',
    help: 'On stop or restart, waiting faces are recognised for this long; the rest waits for the next start.',
    unit: 'ms',
    group: advanced,
  },

  // Sign-in
  'auth.session_ttl_hours': {
    label: 'Stay signed in for',
    help: 'After this long everyone signs in again.',
    unit: 'hours',
    group: everyday,
  },
  'auth.login_max_failures': {
    label: 'Wrong passwords allowed',
    help: 'After this many failed sign-ins (per name and per address), sign-in pauses.',
    unit: 'attempts',
    group: advanced,
  },
  'auth.login_window_s': {
    label: 'Counting failed sign-ins over',
    help: 'Failed sign-ins older than this no longer count.',
    unit: 'seconds',
    group: advanced,
  },
  'auth.metrics_token': {
    label: 'Metrics token',
    help: 'Lets a Prometheus scraper read /metrics; empty: only signed-in users may.',
    group: advanced,
  },

  // Face picture quality
  'quality.min_face_px': {
    label: 'Smallest usable face',
    help: 'Faces narrower than this are too small to learn from or ask about.',
    unit: 'pixels',
    group: advanced,
  },
  'quality.min_sharpness': {
    label: 'Least sharpness',
    help: 'Blurrier faces are not learned from or asked about.',
    unit: 'score',
    group: advanced,
  },
  'quality.max_abs_yaw_deg': {
    label: 'Head turned sideways at most',
    help: 'Faces turned further away are not learned from or asked about.',
    unit: 'degrees',
    group: advanced,
  },
  'quality.max_abs_pitch_deg': {
    label: 'Head tilted up or down at most',
    help: 'Faces tilted further are not learned from or asked about.',
    unit: 'degrees',
    group: advanced,
  },
  'quality.min_brightness': {
    label: 'Darkest usable face',
    help: 'Darker faces are not learned from or asked about.',
    unit: '0–255',
    group: advanced,
  },
  'quality.max_brightness': {
    label: 'Brightest usable face',
    help: 'Brighter (washed-out) faces are not learned from or asked about.',
    unit: '0–255',
    group: advanced,
  },

  // Cameras
  'edge.cameras': {
    label: 'Cameras',
    help: 'Each camera\u2019s name, site and source (device, stream address, video file or folder).',
    group: advanced,
  },
  'edge.spool_dir': {
    label: 'Spool folder',
    help: 'Where sightings wait while the broker is unreachable; empty: inside the data folder.',
    group: advanced,
  },
  'edge.spool_max_bytes': {
    label: 'Spool size limit',
    help: 'Waiting sightings may fill at most this much disk.',
    unit: 'bytes',
    group: advanced,
  },
  'edge.publish_quality': {
    label: 'Send early at quality',
    help: 'A face this good is sent at once instead of waiting for a better view.',
    unit: 'score 0–1',
    group: advanced,
  },
  'edge.update_gain': {
    label: 'Resend when better by',
    help: 'A better view of the same face is sent again only when its quality gains this much.',
    unit: 'score 0–1',
    group: advanced,
  },
  'edge.track_timeout_s': {
    label: 'A face is gone after',
    help: 'A face not seen for this long ends its track.',
    unit: 'seconds',
    group: advanced,
  },
  'edge.crop_margin': {
    label: 'Margin around faces',
    help: 'Extra picture kept around each face, as a share of its size per side.',
    unit: '× face size',
    group: advanced,
  },
  'edge.jpeg_quality': {
    label: 'Picture quality',
    help: 'JPEG quality of face pictures; higher is sharper and larger.',
    unit: '1–100',
    group: advanced,
  },
  'edge.views_per_sighting': {
    label: 'Views per sighting',
    help: 'How many of a visit\u2019s best face views are sent for recognition.',
    unit: 'views',
    group: advanced,
  },

  // Face detection
  'vision.models_dir': {
    label: 'Model folder',
    help: 'Where the face models are installed.',
    group: advanced,
  },
  'vision.detect_threshold': {
    label: 'Face detection confidence',
    help: 'How sure the detector must be that something is a face.',
    unit: 'score 0–1',
    group: advanced,
  },
  'vision.nms_threshold': {
    label: 'Overlapping detections merged above',
    help: 'Detections overlapping more than this count as one face.',
    unit: 'overlap 0–1',
    group: advanced,
  },
  'vision.tile_above_width': {
    label: 'Scan in tiles above width',
    help: 'Wider frames are also scanned in parts so that small faces are found.',
    unit: 'pixels',
    group: advanced,
  },
  'vision.upscale_below_px': {
    label: 'Enlarge photos smaller than',
    help: 'Uploaded photos smaller than this are scanned enlarged to find small faces.',
    unit: 'pixels',
    group: advanced,
  },
  'vision.min_face_px': {
    label: 'Smallest face detected',
    help: 'Smaller faces are ignored.',
    unit: 'pixels',
    group: advanced,
  },
  'vision.max_image_pixels': {
    label: 'Largest picture',
    help: 'Pictures with more pixels than this are refused.',
    unit: 'pixels',
    group: advanced,
  },
  'vision.max_image_bytes': {
    label: 'Largest picture file',
    help: 'Picture files bigger than this are refused.',
    unit: 'bytes',
    group: advanced,
  },
  'vision.anti_spoof': {
    label: 'Photo and screen check',
    help: 'Check each face for signs of a printed photo or a screen.',
    group: advanced,
  },
  'vision.flip_augment': {
    label: 'Also read the mirrored face',
    help: 'Measure each face mirrored too; slower and measured no better.',
    group: advanced,
  },
  'vision.inference_threads': {
    label: 'Threads per model',
    help: 'Processor threads each face model uses.',
    unit: 'threads',
    group: advanced,
  },

  // Web server
  'http.enabled': {
    label: 'Web interface and API',
    help: 'Serve this web interface and the API.',
    group: advanced,
  },
  'http.bind': {
    label: 'Listen address',
    help: '127.0.0.1 serves only this computer; 0.0.0.0 serves the office network.',
    group: advanced,
  },
  'http.port': { label: 'Port', help: 'The web interface\u2019s port.', group: advanced },
  'http.tls_cert_file': {
    label: 'HTTPS certificate file',
    help: 'With the key file, the interface is served over HTTPS.',
    group: advanced,
  },
  'http.tls_key_file': {
    label: 'HTTPS key file',
    help: 'The certificate\u2019s private key.',
    group: advanced,
  },
  'http.web_dir': {
    label: 'Web interface folder',
    help: 'Where the built web interface is; empty: the one built in.',
    group: advanced,
  },
  'http.max_body_bytes': {
    label: 'Largest upload',
    help: 'Uploads bigger than this are refused.',
    unit: 'bytes',
    group: advanced,
  },
  'http.threads': {
    label: 'Connections at once',
    help: 'Open connections the server handles at the same time.',
    unit: 'threads',
    group: advanced,
  },
  'http.header_timeout_s': {
    label: 'Request start time limit',
    help: 'A request\u2019s first part must arrive within this time.',
    unit: 'seconds',
    group: advanced,
  },
  'http.request_timeout_s': {
    label: 'Request time limit',
    help: 'A whole request must arrive within this time.',
    unit: 'seconds',
    group: advanced,
  },
  'http.max_connections_per_client': {
    label: 'Connections per computer',
    help: 'One address may hold at most this many connections.',
    unit: 'connections',
    group: advanced,
  },

  // Rekognition-compatible API
  'aws.enabled': {
    label: 'Rekognition-compatible API',
    help: 'Answer Amazon Rekognition calls signed with Concierge access keys.',
    group: advanced,
  },
  'aws.key_encryption_secret': {
    label: 'Access key encryption secret',
    help: 'Encrypts stored access keys (at least 32 characters); without it no key works.',
    group: advanced,
  },
  'aws.office_collection_id': {
    label: 'Office collection id',
    help: 'The CollectionId that means the office\u2019s own faces; empty: the face collection name.',
    group: advanced,
  },
  'aws.s3_bucket': {
    label: 'S3 bucket for images',
    help: 'Bucket that S3Object images are read from; empty: the picture storage bucket.',
    group: advanced,
  },
  'aws.max_clock_skew_s': {
    label: 'Allowed clock difference',
    help: 'Requests signed further from the server\u2019s time are refused.',
    unit: 'seconds',
    group: advanced,
  },

  // Message bus
  'bus.kind': {
    label: 'Bus',
    help: 'In one process, or over an MQTT broker for several machines.',
    group: advanced,
    choices: [
      { value: 'inprocess', label: 'In one process' },
      { value: 'mqtt', label: 'MQTT broker' },
    ],
  },
  'bus.topic_prefix': { label: 'Topic prefix', help: 'First part of every MQTT topic.', group: advanced },
  'bus.share_group': {
    label: 'Share group',
    help: 'Servers in the same group share the sightings between them.',
    group: advanced,
  },
  'bus.queue_capacity': {
    label: 'Queue size',
    help: 'Sightings waiting in memory before cameras are slowed down.',
    unit: 'sightings',
    group: advanced,
  },
  'bus.mqtt.host': { label: 'Broker host', help: 'The MQTT broker\u2019s address.', group: advanced },
  'bus.mqtt.port': { label: 'Broker port', help: 'The MQTT broker\u2019s port.', group: advanced },
  'bus.mqtt.username': { label: 'Broker user', help: 'User name at the broker.', group: advanced },
  'bus.mqtt.password': { label: 'Broker password', help: 'Password at the broker.', group: advanced },
  'bus.mqtt.tls_ca_file': {
    label: 'Broker CA file',
    help: 'Certificate authority for a TLS connection; empty: no TLS.',
    group: advanced,
  },
  'bus.mqtt.client_id': {
    label: 'Client id',
    help: 'Name at the broker; empty: chosen per process.',
    group: advanced,
  },
  'bus.mqtt.protocol': {
    label: 'MQTT version',
    help: 'Protocol version spoken with the broker.',
    group: advanced,
    choices: [
      { value: 5, label: 'MQTT 5' },
      { value: 3, label: 'MQTT 3.1.1' },
    ],
  },
  'bus.mqtt.keepalive_s': {
    label: 'Keep-alive',
    help: 'How often the connection to the broker is checked.',
    unit: 'seconds',
    group: advanced,
  },

  // Picture storage
  'objects.kind': {
    label: 'Picture storage',
    help: 'A folder on this computer, or S3-compatible storage.',
    group: advanced,
    choices: [
      { value: 'fs', label: 'Folder' },
      { value: 's3', label: 'S3-compatible' },
    ],
  },
  'objects.root': { label: 'Picture folder', help: 'Empty: inside the data folder.', group: advanced },
  'objects.s3_endpoint': { label: 'S3 address', help: 'E.g. http://127.0.0.1:9000.', group: advanced },
  'objects.s3_bucket': { label: 'S3 bucket', help: 'Bucket that holds the pictures.', group: advanced },
  'objects.s3_region': { label: 'S3 region', help: 'Region of the bucket.', group: advanced },
  'objects.s3_access_key': { label: 'S3 access key', help: 'Access key id for the bucket.', group: advanced },
  'objects.s3_secret_key': { label: 'S3 secret key', help: 'Secret key for the bucket.', group: advanced },

  // Database
  'database.kind': {
    label: 'Database',
    help: 'A file on this computer, or a PostgreSQL server.',
    group: advanced,
    choices: [
      { value: 'sqlite', label: 'SQLite file' },
      { value: 'postgres', label: 'PostgreSQL' },
    ],
  },
  'database.sqlite_path': { label: 'Database file', help: 'Empty: inside the data folder.', group: advanced },
  'database.postgres_url': {
    label: 'PostgreSQL address',
    help: 'Connection URL, e.g. postgresql://user:password@host/db.',
    group: advanced,
  },
  'database.busy_timeout_ms': {
    label: 'Wait for a busy database',
    help: 'How long a write waits for another one to finish.',
    unit: 'ms',
    group: advanced,
  },
};

// "gallery_cap" -> "Gallery cap": the label of a key this table does not know.
export function derivedLabel(key: string): string {
  const text = key.replace(/_/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// The description of a dotted key; unknown keys get a derived label, no help, Advanced.
export function describeSetting(dotted: string): SettingHelp & { known: boolean } {
  const known = SETTINGS_HELP[dotted];
  if (known) return { ...known, known: true };
  return { label: derivedLabel(dotted.split('.').pop() ?? dotted), help: '', group: advanced, known: false };
}
