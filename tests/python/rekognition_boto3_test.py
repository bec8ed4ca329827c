#!/usr/bin/env python3
"""The Rekognition-compatible API through boto3 against a real `concierge run`.

CTest runs this (tests/CMakeLists.txt, test `rekognition_boto3`) with the
machine's python3; scripts/test.sh runs CTest. It starts `concierge run` on
127.0.0.1 (http.port 0: the kernel picks a free port, read back from the log)
in a temporary data dir, creates access keys with `concierge aws-key create
--json`, and checks:
  - the original design's calls unchanged: train's index_faces of an S3Object
    from the object store with ExternalImageId, guess's
    search_faces_by_image(MaxFaces=1, FaceMatchThreshold=70), and that the
    cameras and the API share the office collection both ways;
  - every operation, pagination, and ClientRequestToken retries;
  - every error path, each with the AWS error code boto3 expects, and that a
    refused request changes nothing.
Every raw response body is also checked against botocore's output shape
(no member botocore does not know, and the right JSON types).

Environment: CONCIERGE_BINARY (the built binary), CONCIERGE_TEST_DATA (face
data; default ../shared/data). Exit 77 (skipped) without boto3 or face data,
unless CI is set; then they fail.
"""
import base64
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import zlib

SKIP = 77
IN_CI = bool(os.environ.get("CI"))
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
BINARY = os.environ.get("CONCIERGE_BINARY", os.path.join(SOURCE_DIR, "build", "concierge"))
DATA = os.environ.get("CONCIERGE_TEST_DATA",
                      os.path.join(os.path.dirname(SOURCE_DIR), "shared", "data"))
EXAMPLES = os.path.join(DATA, "enroll", "face_recognition", "examples")
OBAMA = os.path.join(EXAMPLES, "obama.jpg")
OBAMA2 = os.path.join(EXAMPLES, "obama2.jpg")
OBAMA3 = os.path.join(EXAMPLES, "obama-720p.jpg")
BIDEN = os.path.join(EXAMPLES, "biden.jpg")
BIDEN2 = os.path.join(EXAMPLES, "knn_examples", "train", "biden", "biden2.jpg")
TWO_PEOPLE = os.path.join(EXAMPLES, "two_people.jpg")
ALEX = os.path.join(EXAMPLES, "knn_examples", "train", "alex_lacamoire", "img1.jpg")
NO_FACE = os.path.join(DATA, "negatives", "imagenet_samples", "n02086240_Shih-Tzu.JPEG")
OFFICE = "doorman"          # aws.office_collection_id
BUCKET = "concierge"        # objects.s3_bucket (the default)
REGION = "eu-central-1"
ENCRYPTION_SECRET = "rekognition-test-" + "0123456789abcdef" * 2
WAIT_S = 90


def unavailable(what):
    print(f"\n*** REKOGNITION BOTO3 TEST {'FAILS' if IN_CI else 'SKIPPED'}: {what} ***\n",
          file=sys.stderr)
    sys.exit(1 if IN_CI else SKIP)


try:
    import boto3
    import botocore
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials
    from botocore.exceptions import ClientError
except ImportError:
    unavailable("boto3 is not installed for " + sys.executable)
REKOGNITION_MODEL = botocore.session.get_session().get_service_model("rekognition")
if "CreateUser" not in REKOGNITION_MODEL.operation_names:
    unavailable(f"botocore {botocore.__version__} for {sys.executable} predates the Rekognition "
                "Users API (the machine's python3 has 1.43)")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def png_bomb(width, height):
    """A valid PNG signature and IHDR claiming width x height: a decompression bomb."""
    def chunk(kind, payload):
        return (len(payload).to_bytes(4, "big") + kind + payload +
                zlib.crc32(kind + payload).to_bytes(4, "big"))
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


class Server:
    """`concierge run` in a temporary data dir, serving HTTP on a free port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="concierge-rekognition-")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(os.path.join(self.data, "inbox"))
        with open(os.path.join(self.data, "config.json"), "w") as f:
            json.dump({"http": {"port": 0, "bind": "127.0.0.1"},
                       "aws": {"key_encryption_secret": ENCRYPTION_SECRET,
                               "office_collection_id": OFFICE}}, f)
        self.env = dict(os.environ, CONCIERGE_DATA_DIR=self.data)
        self.log_path = os.path.join(self.dir, "run.log")
        self.process = None
        self.url = None

    def cli(self, *args, check=True):
        out = subprocess.run([BINARY, "--log-level", "error", *args], env=self.env,
                             capture_output=True, text=True, timeout=120)
        if check and out.returncode != 0:
            raise AssertionError(f"concierge {' '.join(args)} failed: {out.stderr}")
        return out

    def start(self):
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([BINARY, "--log-level", "info", "run"], env=self.env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + WAIT_S
        while time.time() < deadline:
            with open(self.log_path) as f:
                found = re.search(r"http: serving url=(http://[0-9.]+:\d+)", f.read())
            if found:
                self.url = found.group(1)
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError("concierge run did not start serving:\n" + self.logs())

    def logs(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None):
            self.log.close()

    def key(self, name):
        return json.loads(self.cli("--json", "aws-key", "create", "--name", name).stdout)

    def sightings(self):
        return json.loads(self.cli("--json", "sightings", "--limit", "0").stdout)["sightings"]

    def drop(self, photo, name):
        """Drops a one-face photo into the inbox camera; returns its decided sighting."""
        before = {s["id"] for s in self.sightings()}
        partial = os.path.join(self.data, "inbox", name + ".tmp")
        shutil.copyfile(photo, partial)
        os.rename(partial, os.path.join(self.data, "inbox", name))
        deadline = time.time() + WAIT_S
        while time.time() < deadline:
            fresh = [s for s in self.sightings() if s["id"] not in before]
            if fresh and all(s["decision"] != "pending" for s in fresh):
                assert len(fresh) == 1, f"{name} should give one sighting: {fresh}"
                return fresh[0]
            time.sleep(0.2)
        raise AssertionError(f"no decided sighting for {name}:\n" + self.logs()[-3000:])


SERVER = None
KEY = None


def setUpModule():
    global SERVER, KEY
    for path in (OBAMA, OBAMA2, OBAMA3, BIDEN, BIDEN2, TWO_PEOPLE, ALEX, NO_FACE):
        if not os.path.isfile(path):
            unavailable(f"face data missing: {path} (set CONCIERGE_TEST_DATA)")
    if not os.access(BINARY, os.X_OK):
        unavailable(f"no concierge binary at {BINARY}")
    SERVER = Server()
    KEY = SERVER.key("boto3-test")
    SERVER.start()


def tearDownModule():
    if SERVER:
        SERVER.stop()
        shutil.rmtree(SERVER.dir, ignore_errors=True)


SHAPE_CHECKS = []  # (operation, problem) found by check_output_shape


def check_output_shape(shape, value, path, problems):
    """Checks a raw JSON value against a botocore output shape, member by member."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: {type(value).__name__} where a structure belongs")
            return
        for name, member in value.items():
            if name not in shape.members:
                problems.append(f"{path}.{name}: not a member of {shape.name}")
            else:
                check_output_shape(shape.members[name], member, f"{path}.{name}", problems)
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: {type(value).__name__} where a list belongs")
            return
        for i, item in enumerate(value):
            check_output_shape(shape.member, item, f"{path}[{i}]", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: {value!r} is not a string")
        elif shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} is not one of {shape.enum}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: {value!r} is not an integer")
    elif kind in ("float", "double", "timestamp"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"{path}: {value!r} is not a number")
    elif kind == "boolean" and not isinstance(value, bool):
        problems.append(f"{path}: {value!r} is not a boolean")


def client(key=None, **config):
    key = key or KEY
    c = boto3.client("rekognition", endpoint_url=SERVER.url, region_name=REGION,
                     aws_access_key_id=key["access_key_id"],
                     aws_secret_access_key=key["secret_access_key"],
                     config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config))

    def check(http_response, parsed, model, **_):
        if http_response.status_code != 200 or model.output_shape is None:
            return
        problems = []
        check_output_shape(model.output_shape, json.loads(http_response.content or b"{}"),
                           model.name, problems)
        SHAPE_CHECKS.extend((model.name, p) for p in problems)

    c.meta.events.register("after-call.rekognition", check)
    return c


def raw(target, body, key=None, headers=None, sign=True, amz_date=None, path="/"):
    """A hand-made request: signed by botocore's own SigV4Auth unless sign=False.
    Returns (status, headers, parsed JSON body)."""
    key = key or KEY
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/x-amz-json-1.1",
                   "X-Amz-Target": "RekognitionService." + target}
    all_headers.update(headers or {})
    request = AWSRequest(method="POST", url=SERVER.url + path, data=data, headers=all_headers)
    if sign:
        signer = SigV4Auth(Credentials(key["access_key_id"], key["secret_access_key"]),
                           "rekognition", REGION)
        if amz_date:
            real = botocore.auth.get_current_datetime
            botocore.auth.get_current_datetime = lambda: amz_date
            try:
                signer.add_auth(request)
            finally:
                botocore.auth.get_current_datetime = real
        else:
            signer.add_auth(request)
    prepared = request.prepare()
    http = urllib.request.Request(prepared.url, data=prepared.body, method="POST",
                                  headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(http, timeout=120) as response:
            return response.status, response.headers, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read() or b"{}")


class TestCase(unittest.TestCase):
    def tearDown(self):
        # Every answer of the test matches botocore's output shape.
        problems, SHAPE_CHECKS[:] = SHAPE_CHECKS[:], []
        self.assertEqual(problems, [])

    def assertAwsError(self, code, call, *args, **kwargs):
        with self.assertRaises(ClientError) as caught:
            call(*args, **kwargs)
        error = caught.exception.response["Error"]
        self.assertEqual(error["Code"], code, error)
        self.assertTrue(error["Message"], "an AWS error carries a message")
        self.assertTrue(caught.exception.response["ResponseMetadata"].get("RequestId"))
        return caught.exception.response

    def assertRawError(self, code, status, reply):
        got_status, headers, body = reply
        self.assertEqual(body.get("__type"), code, body)
        self.assertEqual(got_status, status, body)
        self.assertTrue(body.get("Message"), body)
        self.assertEqual(headers.get("Content-Type"), "application/x-amz-json-1.1")


class OriginalDesign(TestCase):
    """The Lambda code of the original design, unchanged but for endpoint_url."""

    def test_train_and_guess_against_the_office_collection(self):
        rekognition = client()
        # decode/guess: a stranger seen at the door lands in unknown/ in the object store.
        stranger = SERVER.drop(OBAMA, "obama-at-the-door.jpg")
        self.assertEqual(stranger["decision"], "unknown", stranger)
        key = stranger["image_key"]
        self.assertTrue(key.startswith("unknown/"), key)

        # train: the team tags him in Slack; the Lambda indexes the S3 picture.
        user_id = "U0OBAMA01"
        resp = rekognition.index_faces(
            CollectionId=OFFICE,
            Image={"S3Object": {"Bucket": BUCKET, "Name": key}},
            ExternalImageId=user_id,
            DetectionAttributes=["DEFAULT"])
        self.assertEqual(len(resp["FaceRecords"]), 1, resp)
        face = resp["FaceRecords"][0]["Face"]
        self.assertEqual(face["ExternalImageId"], user_id)
        self.assertRegex(face["FaceId"], r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                                         r"[0-9a-f]{12}$")
        for side in ("Width", "Height", "Left", "Top"):
            self.assertTrue(0 <= face["BoundingBox"][side] <= 1, face)

        # guess: another photo of him is found with the design's own parameters.
        with open(OBAMA2, "rb") as f:
            image = {"Bytes": f.read()}
        resp = rekognition.search_faces_by_image(
            CollectionId=OFFICE, Image=image, MaxFaces=1, FaceMatchThreshold=70)
        self.assertEqual(len(resp["FaceMatches"]), 1, resp)
        self.assertEqual(resp["FaceMatches"][0]["Face"]["ExternalImageId"], user_id)
        self.assertGreaterEqual(resp["FaceMatches"][0]["Similarity"], 70)
        self.assertIn("SearchedFaceBoundingBox", resp)
        self.assertGreater(resp["SearchedFaceConfidence"], 50)
        # A stranger is not found at the design's threshold.
        resp = rekognition.search_faces_by_image(
            CollectionId=OFFICE, Image={"Bytes": read(ALEX)}, MaxFaces=1, FaceMatchThreshold=70)
        self.assertEqual(resp["FaceMatches"], [], resp)

        # The cameras now know him: the next visit is decided known.
        seen = SERVER.drop(OBAMA3, "obama-again.jpg")
        self.assertEqual(seen["decision"], "known", seen)
        self.assertEqual(seen["person"]["id"], user_id, seen)

        # And a person enrolled with the CLI (as the UI does) is found through the API.
        SERVER.cli("enroll", "--person", "joe-biden", "--name", "Joe Biden", BIDEN)
        deadline = time.time() + WAIT_S
        matches = []
        while time.time() < deadline and not matches:
            matches = rekognition.search_faces_by_image(
                CollectionId=OFFICE, Image={"Bytes": read(BIDEN2)}, MaxFaces=1,
                FaceMatchThreshold=70)["FaceMatches"]
            time.sleep(0.2)
        self.assertTrue(matches, "a person enrolled outside the API is found by it")
        self.assertEqual(matches[0]["Face"]["UserId"], "joe-biden")
        self.assertEqual(matches[0]["Face"]["ExternalImageId"], "joe-biden")
        self.assertIn(OFFICE, rekognition.list_collections()["CollectionIds"])


class Collections(TestCase):
    def test_create_describe_list_page_and_delete(self):
        rekognition = client()
        ids = [f"collection-{i}" for i in range(3)]
        for cid in ids:
            resp = rekognition.create_collection(CollectionId=cid, Tags={"team": "door"})
            self.assertEqual(resp["StatusCode"], 200)
            self.assertEqual(resp["CollectionArn"],
                             f"arn:aws:rekognition:{REGION}:000000000000:collection/{cid}")
            self.assertRegex(resp["FaceModelVersion"], r"^[0-9.]+$")
        self.assertAwsError("ResourceAlreadyExistsException", rekognition.create_collection,
                            CollectionId=ids[0])
        self.assertAwsError("ResourceAlreadyExistsException", rekognition.create_collection,
                            CollectionId=OFFICE)
        self.assertAwsError("InvalidParameterException", rekognition.create_collection,
                            CollectionId="default")  # the office's storage name
        described = rekognition.describe_collection(CollectionId=ids[1])
        self.assertEqual(described["FaceCount"], 0)
        self.assertEqual(described["UserCount"], 0)
        self.assertIsInstance(described["CreationTimestamp"], datetime.datetime)

        first = rekognition.list_collections(MaxResults=2)
        self.assertEqual(len(first["CollectionIds"]), 2)
        self.assertEqual(len(first["FaceModelVersions"]), 2)
        self.assertIn("NextToken", first)
        paged = []
        for page in rekognition.get_paginator("list_collections").paginate(
                PaginationConfig={"PageSize": 1}):
            self.assertLessEqual(len(page["CollectionIds"]), 1)
            paged += page["CollectionIds"]
        self.assertEqual(paged, sorted(paged))
        for cid in ids + [OFFICE]:
            self.assertIn(cid, paged)

        for cid in ids:
            self.assertEqual(rekognition.delete_collection(CollectionId=cid)["StatusCode"], 200)
        self.assertAwsError("ResourceNotFoundException", rekognition.delete_collection,
                            CollectionId=ids[0])
        self.assertAwsError("ResourceNotFoundException", rekognition.describe_collection,
                            CollectionId=ids[0])
        self.assertAwsError("AccessDeniedException", rekognition.delete_collection,
                            CollectionId=OFFICE)
        self.assertNotIn(ids[0], rekognition.list_collections()["CollectionIds"])

    def test_deleting_a_collection_removes_its_faces(self):
        rekognition = client()
        rekognition.create_collection(CollectionId="short-lived")
        rekognition.index_faces(CollectionId="short-lived", Image={"Bytes": read(OBAMA)},
                                ExternalImageId="someone")
        rekognition.delete_collection(CollectionId="short-lived")
        rekognition.create_collection(CollectionId="short-lived")
        self.assertEqual(rekognition.describe_collection(CollectionId="short-lived")["FaceCount"],
                         0)
        self.assertEqual(rekognition.list_faces(CollectionId="short-lived")["Faces"], [])
        rekognition.delete_collection(CollectionId="short-lived")


class InCollection(TestCase):
    """Tests on a collection of their own, COLLECTION, made for the class."""
    COLLECTION = None

    @classmethod
    def setUpClass(cls):
        cls.rekognition = client()
        cls.rekognition.create_collection(CollectionId=cls.COLLECTION)

    @classmethod
    def tearDownClass(cls):
        cls.rekognition.delete_collection(CollectionId=cls.COLLECTION)


class Faces(InCollection):
    COLLECTION = "faces"

    def test_index_list_search_and_delete(self):
        r = self.rekognition
        obama = r.index_faces(CollectionId="faces", Image={"Bytes": read(OBAMA)},
                              ExternalImageId="obama", DetectionAttributes=["ALL"])
        self.assertEqual(len(obama["FaceRecords"]), 1)
        detail = obama["FaceRecords"][0]["FaceDetail"]
        for attribute in ("BoundingBox", "Landmarks", "Pose", "Quality", "Confidence"):
            self.assertIn(attribute, detail)
        self.assertEqual({l["Type"] for l in detail["Landmarks"]},
                         {"eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight"})
        obama_id = obama["FaceRecords"][0]["Face"]["FaceId"]
        image_id = obama["FaceRecords"][0]["Face"]["ImageId"]
        # The same image with the same ExternalImageId is not stored twice (as AWS).
        again = r.index_faces(CollectionId="faces", Image={"Bytes": read(OBAMA)},
                              ExternalImageId="obama")
        self.assertEqual(again["FaceRecords"][0]["Face"]["FaceId"], obama_id)
        self.assertEqual(again["FaceRecords"][0]["Face"]["ImageId"], image_id)
        second = r.index_faces(CollectionId="faces", Image={"Bytes": read(OBAMA2)},
                               ExternalImageId="obama")["FaceRecords"][0]["Face"]["FaceId"]
        biden = r.index_faces(CollectionId="faces", Image={"Bytes": read(BIDEN)},
                              ExternalImageId="biden")["FaceRecords"][0]["Face"]["FaceId"]
        anonymous = r.index_faces(CollectionId="faces", Image={"Bytes": read(ALEX)})
        alex = anonymous["FaceRecords"][0]["Face"]
        self.assertNotIn("ExternalImageId", alex)
        self.assertNotIn("UserId", alex)
        self.assertEqual(r.describe_collection(CollectionId="faces")["FaceCount"], 4)

        listed = [f["FaceId"] for page in r.get_paginator("list_faces").paginate(
            CollectionId="faces", PaginationConfig={"PageSize": 1}) for f in page["Faces"]]
        self.assertEqual(listed, [obama_id, second, biden, alex["FaceId"]])
        only_obama = r.list_faces(CollectionId="faces", UserId="obama")["Faces"]
        self.assertEqual({f["FaceId"] for f in only_obama}, {obama_id, second})
        by_id = r.list_faces(CollectionId="faces", FaceIds=[biden])["Faces"]
        self.assertEqual([f["FaceId"] for f in by_id], [biden])
        self.assertAwsError("InvalidPaginationTokenException", r.list_faces,
                            CollectionId="faces", NextToken="not-a-token")

        found = r.search_faces(CollectionId="faces", FaceId=obama_id, FaceMatchThreshold=70)
        self.assertEqual(found["SearchedFaceId"], obama_id)
        self.assertEqual([m["Face"]["FaceId"] for m in found["FaceMatches"]], [second])
        self.assertAwsError("InvalidParameterException", r.search_faces, CollectionId="faces",
                            FaceId="00000000-0000-4000-8000-000000000000")

        by_image = r.search_faces_by_image(CollectionId="faces", Image={"Bytes": read(OBAMA3)},
                                           MaxFaces=5, FaceMatchThreshold=70)
        self.assertEqual({m["Face"]["FaceId"] for m in by_image["FaceMatches"]},
                         {obama_id, second})
        similarities = [m["Similarity"] for m in by_image["FaceMatches"]]
        self.assertEqual(similarities, sorted(similarities, reverse=True))
        self.assertTrue(all(0 <= s <= 100 for s in similarities))
        everyone = r.search_faces_by_image(CollectionId="faces", Image={"Bytes": read(OBAMA3)},
                                           MaxFaces=10, FaceMatchThreshold=0)
        self.assertEqual(len(everyone["FaceMatches"]), 4)
        self.assertAwsError("InvalidParameterException", r.search_faces_by_image,
                            CollectionId="faces", Image={"Bytes": read(NO_FACE)})

        deleted = r.delete_faces(CollectionId="faces",
                                 FaceIds=[second, "00000000-0000-4000-8000-000000000000"])
        self.assertEqual(deleted["DeletedFaces"], [second])
        self.assertEqual(deleted["UnsuccessfulFaceDeletions"][0]["Reasons"], ["FACE_NOT_FOUND"])
        self.assertEqual(r.describe_collection(CollectionId="faces")["FaceCount"], 3)

    def test_max_faces_and_quality_filter_leave_faces_unindexed(self):
        r = self.rekognition
        resp = r.index_faces(CollectionId="faces", Image={"Bytes": read(TWO_PEOPLE)},
                             MaxFaces=1, QualityFilter="NONE")
        self.assertEqual(len(resp["FaceRecords"]), 1)
        self.assertEqual(len(resp["UnindexedFaces"]), 1)
        self.assertEqual(resp["UnindexedFaces"][0]["Reasons"], ["EXCEEDS_MAX_FACES"])
        indexed = resp["FaceRecords"][0]["FaceDetail"]["BoundingBox"]
        skipped = resp["UnindexedFaces"][0]["FaceDetail"]["BoundingBox"]
        self.assertGreaterEqual(indexed["Width"] * indexed["Height"],
                                skipped["Width"] * skipped["Height"], "the largest is indexed")

        small = r.index_faces(CollectionId="faces", Image={"Bytes": read(
            os.path.join(EXAMPLES, "obama-240p.jpg"))}, QualityFilter="HIGH")  # a 47 px face
        self.assertEqual(small["FaceRecords"], [])
        self.assertIn("SMALL_BOUNDING_BOX", small["UnindexedFaces"][0]["Reasons"])
        r.delete_faces(CollectionId="faces",
                       FaceIds=[resp["FaceRecords"][0]["Face"]["FaceId"]])

    def test_detect_and_compare_faces(self):
        r = self.rekognition
        details = r.detect_faces(Image={"Bytes": read(TWO_PEOPLE)},
                                 Attributes=["DEFAULT"])["FaceDetails"]
        self.assertEqual(len(details), 2)
        areas = [d["BoundingBox"]["Width"] * d["BoundingBox"]["Height"] for d in details]
        self.assertEqual(areas, sorted(areas, reverse=True))
        for d in details:
            self.assertTrue(-180 <= d["Pose"]["Roll"] <= 180)
            self.assertTrue(0 <= d["Quality"]["Sharpness"] <= 100)
        self.assertEqual(r.detect_faces(Image={"Bytes": read(NO_FACE)})["FaceDetails"], [])

        compared = r.compare_faces(SourceImage={"Bytes": read(OBAMA)},
                                   TargetImage={"Bytes": read(
                                       os.path.join(EXAMPLES, "knn_examples", "test",
                                                    "obama_and_biden.jpg"))},
                                   SimilarityThreshold=70)
        self.assertIn("SourceImageFace", compared)
        self.assertEqual(len(compared["FaceMatches"]), 1, compared)  # Obama, not Biden
        self.assertGreaterEqual(len(compared["UnmatchedFaces"]), 1, compared)
        self.assertGreaterEqual(compared["FaceMatches"][0]["Similarity"], 70)
        self.assertAwsError("InvalidParameterException", r.compare_faces,
                            SourceImage={"Bytes": read(NO_FACE)},
                            TargetImage={"Bytes": read(OBAMA)})


class Users(InCollection):
    COLLECTION = "users"

    def index(self, photo):
        return self.rekognition.index_faces(
            CollectionId="users", Image={"Bytes": read(photo)})["FaceRecords"][0]["Face"]["FaceId"]

    def test_users_associate_search_disassociate_delete(self):
        r = self.rekognition
        r.create_user(CollectionId="users", UserId="obama")
        r.create_user(CollectionId="users", UserId="biden")
        self.assertAwsError("ConflictException", r.create_user, CollectionId="users",
                            UserId="obama")
        self.assertAwsError("InvalidParameterException", r.create_user, CollectionId="users",
                            UserId="has:colon")
        self.assertEqual(r.list_users(CollectionId="users")["Users"],
                         [{"UserId": "biden", "UserStatus": "CREATED"},
                          {"UserId": "obama", "UserStatus": "CREATED"}])
        o1, o2, b1 = self.index(OBAMA), self.index(OBAMA2), self.index(BIDEN)
        # Faces indexed without ExternalImageId belong to nobody: no users appear.
        self.assertEqual(len(r.list_users(CollectionId="users")["Users"]), 2)

        resp = r.associate_faces(CollectionId="users", UserId="obama", FaceIds=[o1])
        self.assertEqual(resp["AssociatedFaces"], [{"FaceId": o1}])
        self.assertEqual(resp["UserStatus"], "ACTIVE")
        # A face of someone else does not join an active user.
        resp = r.associate_faces(CollectionId="users", UserId="obama", FaceIds=[b1, o2,
                                 "00000000-0000-4000-8000-000000000000"])
        self.assertEqual(resp["AssociatedFaces"], [{"FaceId": o2}])
        reasons = {u["FaceId"]: u["Reasons"] for u in resp["UnsuccessfulFaceAssociations"]}
        self.assertEqual(reasons[b1], ["LOW_MATCH_CONFIDENCE"])
        self.assertEqual(reasons["00000000-0000-4000-8000-000000000000"], ["FACE_NOT_FOUND"])
        r.associate_faces(CollectionId="users", UserId="biden", FaceIds=[b1])
        resp = r.associate_faces(CollectionId="users", UserId="obama", FaceIds=[b1])
        self.assertEqual(resp["UnsuccessfulFaceAssociations"][0]["Reasons"],
                         ["ASSOCIATED_TO_A_DIFFERENT_USER"])
        self.assertEqual(resp["UnsuccessfulFaceAssociations"][0]["UserId"], "biden")
        # FaceIds survive the move to the user.
        faces = {f["FaceId"]: f for f in r.list_faces(CollectionId="users")["Faces"]}
        self.assertEqual(faces[o1]["UserId"], "obama")
        self.assertEqual(faces[o2]["UserId"], "obama")

        found = r.search_users_by_image(CollectionId="users", Image={"Bytes": read(OBAMA3)},
                                        UserMatchThreshold=70)
        self.assertEqual([m["User"]["UserId"] for m in found["UserMatches"]], ["obama"])
        self.assertIn("FaceDetail", found["SearchedFace"])
        two = r.search_users_by_image(CollectionId="users", Image={"Bytes": read(TWO_PEOPLE)},
                                      UserMatchThreshold=0)
        self.assertEqual(len(two["UnsearchedFaces"]), 1)
        self.assertIn("FACE_NOT_LARGEST", two["UnsearchedFaces"][0]["Reasons"])
        nobody = r.search_users_by_image(CollectionId="users", Image={"Bytes": read(NO_FACE)})
        self.assertEqual(nobody["UserMatches"], [])
        self.assertNotIn("SearchedFace", nobody)
        by_face = r.search_users(CollectionId="users", FaceId=o2, UserMatchThreshold=70)
        self.assertEqual(by_face["SearchedFace"], {"FaceId": o2})
        self.assertEqual(by_face["UserMatches"][0]["User"]["UserId"], "obama")
        by_user = r.search_users(CollectionId="users", UserId="obama", UserMatchThreshold=0)
        self.assertEqual(by_user["SearchedUser"], {"UserId": "obama"})
        self.assertNotIn("obama", [m["User"]["UserId"] for m in by_user["UserMatches"]])
        self.assertAwsError("InvalidParameterException", r.search_users, CollectionId="users")

        resp = r.disassociate_faces(CollectionId="users", UserId="obama", FaceIds=[o2, b1])
        self.assertEqual(resp["DisassociatedFaces"], [{"FaceId": o2}])
        self.assertEqual(resp["UnsuccessfulFaceDisassociations"][0]["Reasons"],
                         ["ASSOCIATED_TO_A_DIFFERENT_USER"])
        faces = {f["FaceId"]: f for f in r.list_faces(CollectionId="users")["Faces"]}
        self.assertNotIn("UserId", faces[o2])

        r.delete_user(CollectionId="users", UserId="obama")
        self.assertAwsError("ResourceNotFoundException", r.delete_user, CollectionId="users",
                            UserId="obama")
        # As AWS: the user's faces stay, associated with nobody.
        faces = {f["FaceId"]: f for f in r.list_faces(CollectionId="users")["Faces"]}
        self.assertIn(o1, faces)
        self.assertNotIn("UserId", faces[o1])
        self.assertEqual([u["UserId"] for u in r.list_users(CollectionId="users")["Users"]],
                         ["biden"])

    def test_list_users_pages(self):
        r = self.rekognition
        for i in range(5):
            r.create_user(CollectionId="users", UserId=f"page-{i}")
        users = [u["UserId"] for page in r.get_paginator("list_users").paginate(
            CollectionId="users", PaginationConfig={"PageSize": 2}) for u in page["Users"]]
        self.assertEqual([u for u in users if u.startswith("page-")],
                         [f"page-{i}" for i in range(5)])
        for i in range(5):
            r.delete_user(CollectionId="users", UserId=f"page-{i}")

    def test_client_request_token_retries_get_the_first_answer(self):
        r = self.rekognition
        r.create_user(CollectionId="users", UserId="retried", ClientRequestToken="token-1")
        # A retry with the same token gets the first answer, not ConflictException.
        self.assertEqual(
            r.create_user(CollectionId="users", UserId="retried",
                          ClientRequestToken="token-1")["ResponseMetadata"]["HTTPStatusCode"],
            200)
        self.assertAwsError("IdempotentParameterMismatchException", r.create_user,
                            CollectionId="users", UserId="someone-else",
                            ClientRequestToken="token-1")
        r.delete_user(CollectionId="users", UserId="retried")


class BadInput(TestCase):
    """Every refusal is AWS-shaped and changes nothing."""

    def face_count(self):
        return client().describe_collection(CollectionId=OFFICE)["FaceCount"]

    def test_signatures_keys_and_clock(self):
        before = self.face_count()
        wrong_secret = dict(KEY, secret_access_key="x" * 40)
        self.assertAwsError("InvalidSignatureException", client(wrong_secret).list_collections)
        unknown = dict(KEY, access_key_id="AKCCUNKNOWN000000000")
        self.assertAwsError("UnrecognizedClientException", client(unknown).list_collections)

        revoked = SERVER.key("revoked-later")
        client(revoked).list_collections()
        SERVER.cli("aws-key", "revoke", revoked["access_key_id"])
        self.assertAwsError("UnrecognizedClientException", client(revoked).list_collections)
        listing = SERVER.cli("--json", "aws-key", "list").stdout
        state = {k["access_key_id"]: k["state"] for k in json.loads(listing)["access_keys"]}
        self.assertEqual(state[revoked["access_key_id"]], "revoked")
        # Secrets are shown once: not listed, not in the database, not in the log.
        for secret in (KEY["secret_access_key"], revoked["secret_access_key"]):
            self.assertNotIn(secret, listing)
            for db in ("concierge.db", "concierge.db-wal"):
                if os.path.exists(os.path.join(SERVER.data, db)):
                    self.assertNotIn(secret.encode(), read(os.path.join(SERVER.data, db)))
            self.assertNotIn(secret, SERVER.logs())

        now = datetime.datetime.now(datetime.timezone.utc)
        stale = raw("ListCollections", {}, amz_date=now - datetime.timedelta(minutes=6))
        self.assertRawError("InvalidSignatureException", 400, stale)
        self.assertIn("Signature expired", stale[2]["Message"])
        future = raw("ListCollections", {}, amz_date=now + datetime.timedelta(minutes=6))
        self.assertRawError("InvalidSignatureException", 400, future)
        self.assertRawError("MissingAuthenticationTokenException", 400,
                            raw("ListCollections", {}, sign=False))
        self.assertRawError("IncompleteSignatureException", 400,
                            raw("ListCollections", {}, sign=False,
                                headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x"}))

        # A captured request replayed with another body or operation is refused.
        body = {"CollectionId": OFFICE, "Image": {"Bytes": base64.b64encode(read(OBAMA)).decode()}}
        request = AWSRequest(method="POST", url=SERVER.url + "/", data=json.dumps(body).encode(),
                             headers={"Content-Type": "application/x-amz-json-1.1",
                                      "X-Amz-Target": "RekognitionService.DetectFaces"})
        SigV4Auth(Credentials(KEY["access_key_id"], KEY["secret_access_key"]), "rekognition",
                  REGION).add_auth(request)
        captured = {k: v for k, v in request.prepare().headers.items() if k != "Content-Length"}
        for target, data in (("RekognitionService.IndexFaces", json.dumps(body).encode()),
                             ("RekognitionService.DetectFaces", b'{"Image": {}}')):
            replay = urllib.request.Request(SERVER.url + "/", data=data, method="POST",
                                            headers=dict(captured, **{"X-Amz-Target": target}))
            with self.assertRaises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(replay, timeout=60)
            self.assertEqual(json.loads(refused.exception.read())["__type"],
                             "InvalidSignatureException")
        self.assertEqual(self.face_count(), before)

    def test_malformed_requests(self):
        before = self.face_count()
        self.assertRawError("SerializationException", 400, raw("ListCollections", b'{"MaxRes'))
        self.assertRawError("SerializationException", 400, raw("ListCollections", b'[1, 2]'))
        self.assertRawError("SerializationException", 400,
                            raw("ListCollections", b"[" * 100 + b"]" * 100))
        wrong_types = raw("SearchFacesByImage", {"CollectionId": OFFICE, "MaxFaces": "one",
                                                 "FaceMatchThreshold": 170,
                                                 "Image": {"Bytes": 5}})
        self.assertRawError("ValidationException", 400, wrong_types)
        for member in ("maxFaces", "faceMatchThreshold", "image.bytes"):
            self.assertIn(member, wrong_types[2]["Message"])
        missing = raw("IndexFaces", {"Image": {"Bytes": "aGk="}})
        self.assertRawError("ValidationException", 400, missing)
        self.assertIn("collectionId", missing[2]["Message"])
        self.assertRawError("ValidationException", 400,
                            raw("CreateCollection", {"CollectionId": "has space"}))
        self.assertRawError("SerializationException", 400,
                            raw("DetectFaces", {"Image": {"Bytes": "not base64!"}}))
        self.assertRawError("ValidationException", 400,
                            raw("IndexFaces", {"CollectionId": OFFICE, "QualityFilter": "BEST",
                                               "Image": {"Bytes": "aGk="}}))
        # Unknown members are ignored, as AWS does.
        status, _, body = raw("ListCollections", {"Surprise": [1, {"x": None}]})
        self.assertEqual(status, 200, body)
        self.assertRawError("UnknownOperationException", 400, raw("DetectLabels", {}))
        self.assertRawError("UnknownOperationException", 400, raw("ListCollections", {},
                            headers={"X-Amz-Target": "Other.ListCollections"}))
        self.assertRawError("SerializationException", 400,
                            raw("ListCollections", {}, headers={"Content-Type": "text/plain"}))
        self.assertEqual(self.face_count(), before)

    def test_bad_images(self):
        r = client()
        before = self.face_count()
        index = lambda image: r.index_faces(CollectionId=OFFICE, Image=image)
        self.assertAwsError("InvalidImageFormatException", index, {"Bytes": b"not a picture"})
        self.assertAwsError("InvalidImageFormatException", index,
                            {"Bytes": read(OBAMA)[:20000]})  # truncated JPEG
        self.assertAwsError("ImageTooLargeException", index, {"Bytes": png_bomb(30000, 30000)})
        self.assertAwsError("ImageTooLargeException", index,
                            {"Bytes": read(OBAMA) + b"\0" * (5 * 1024 * 1024)})
        self.assertAwsError("InvalidParameterException", index, {})
        self.assertAwsError("InvalidParameterException", index,
                            {"Bytes": read(OBAMA), "S3Object": {"Bucket": BUCKET, "Name": "x"}})
        for name in ("missing/nothing.jpg", "../config.json", "/etc/passwd", "a/../../b.jpg",
                     "faces//x.jpg", "%2e%2e/concierge.db"):
            self.assertAwsError("InvalidS3ObjectException", index,
                                {"S3Object": {"Bucket": BUCKET, "Name": name}})
        stored = "bad-input/obama.jpg"
        os.makedirs(os.path.join(SERVER.data, "objects", "bad-input"), exist_ok=True)
        shutil.copyfile(OBAMA, os.path.join(SERVER.data, "objects", stored))
        self.assertAwsError("InvalidS3ObjectException", index,
                            {"S3Object": {"Bucket": "someone-elses", "Name": stored}})
        self.assertAwsError("InvalidS3ObjectException", index,
                            {"S3Object": {"Bucket": BUCKET, "Name": stored, "Version": "1"}})
        self.assertAwsError("ResourceNotFoundException", r.index_faces, CollectionId="nope",
                            Image={"Bytes": read(OBAMA)})
        self.assertEqual(self.face_count(), before)

    def test_huge_body(self):
        status, _, body = raw("DetectFaces", b"{" + b" " * (17 * 1024 * 1024) + b"}")
        self.assertEqual(body.get("__type"), "SerializationException", body)
        self.assertEqual(status, 400)


if __name__ == "__main__":
    unittest.main(verbosity=2)
