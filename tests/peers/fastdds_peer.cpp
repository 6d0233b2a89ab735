// A small Fast DDS 2.9 program for Pollen's interop tests: publishes or subscribes a string
// topic (std_msgs String_ layout), a keyed topic (interop::KeyedSample) or ddsperf's KeyedSeq,
// pinned to loopback.
//
//   fastdds_peer pub|sub --topic T --type string|keyed|keyedseq [--count N] [--timeout S]
//                [--domain D] [--transient-local] [--dispose ID] [--size N]
//
// sub prints one line per sample ("alive <id> <seq> <text>" or "disposed <id>"; a text of more
// than 100 bytes is shown as "[N bytes]") and exits 0 once --count samples (dispose
// notifications included) arrived, 1 on timeout. pub waits for a matched reader, writes --count
// samples, optionally disposes one instance, waits for the acknowledgements and exits 0 (1 on
// timeout). With --size N, pub writes texts (string) or baggages (keyedseq) of N bytes instead
// of "hello <i>" / "sample <i>", and both sides accept samples of that size (Fast DDS then
// fragments them); the default limit is 70000 bytes.
//
// Build: g++ -std=c++17 -O1 fastdds_peer.cpp -o fastdds_peer -lfastrtps -lfastcdr

#include <fastdds/dds/domain/DomainParticipant.hpp>
#include <fastdds/dds/domain/DomainParticipantFactory.hpp>
#include <fastdds/dds/publisher/DataWriter.hpp>
#include <fastdds/dds/publisher/Publisher.hpp>
#include <fastdds/dds/subscriber/DataReader.hpp>
#include <fastdds/dds/subscriber/SampleInfo.hpp>
#include <fastdds/dds/subscriber/Subscriber.hpp>
#include <fastdds/dds/topic/TopicDataType.hpp>
#include <fastdds/dds/topic/TypeSupport.hpp>
#include <fastdds/rtps/transport/UDPv4TransportDescriptor.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

using namespace eprosima::fastdds::dds;
using eprosima::fastrtps::rtps::InstanceHandle_t;
using eprosima::fastrtps::rtps::SerializedPayload_t;

// One struct for the three types: string uses `text`; keyed uses id (key), seq, text;
// keyedseq uses seq, id as keyval (key) and `text` as the octet-sequence baggage.
struct Sample {
    int32_t id = 0;
    uint32_t seq = 0;
    std::string text;
};

enum class Kind { String, Keyed, KeyedSeq };

// Little-endian XCDR1 helpers over a SerializedPayload_t.
static void put_u32(SerializedPayload_t* p, uint32_t v) {
    while (p->length % 4) p->data[p->length++] = 0;
    std::memcpy(p->data + p->length, &v, 4);
    p->length += 4;
}

static void put_string(SerializedPayload_t* p, const std::string& s) {
    put_u32(p, static_cast<uint32_t>(s.size() + 1));
    std::memcpy(p->data + p->length, s.c_str(), s.size() + 1);
    p->length += static_cast<uint32_t>(s.size() + 1);
}

struct Reader {
    const SerializedPayload_t* p;
    uint32_t pos = 4;  // after the encapsulation header
    bool ok = true;
    uint32_t u32() {
        while (pos % 4) pos++;
        if (pos + 4 > p->length) { ok = false; return 0; }
        uint32_t v;
        std::memcpy(&v, p->data + pos, 4);
        pos += 4;
        return v;
    }
    std::string str() {
        uint32_t n = u32();
        if (!ok || n == 0 || pos + n > p->length) { ok = false; return {}; }
        std::string s(reinterpret_cast<const char*>(p->data + pos), n - 1);
        pos += n;
        return s;
    }
};

class SampleType : public TopicDataType {
public:
    SampleType(Kind kind, uint32_t max_text) : kind_(kind) {
        setName(kind == Kind::Keyed      ? "interop::KeyedSample"
                : kind == Kind::KeyedSeq ? "KeyedSeq"
                                         : "std_msgs::msg::dds_::String_");
        m_typeSize = 4 + 4 + 4 + 4 + max_text + 4;
        m_isGetKeyDefined = kind != Kind::String;
    }

    bool serialize(void* data, SerializedPayload_t* p) override {
        auto* s = static_cast<Sample*>(data);
        p->data[0] = 0; p->data[1] = 1; p->data[2] = 0; p->data[3] = 0;
        p->encapsulation = CDR_LE;
        p->length = 4;
        switch (kind_) {
        case Kind::Keyed:
            put_u32(p, static_cast<uint32_t>(s->id));
            put_u32(p, s->seq);
            put_string(p, s->text);
            break;
        case Kind::KeyedSeq:
            put_u32(p, s->seq);
            put_u32(p, static_cast<uint32_t>(s->id));
            put_u32(p, static_cast<uint32_t>(s->text.size()));
            std::memcpy(p->data + p->length, s->text.data(), s->text.size());
            p->length += static_cast<uint32_t>(s->text.size());
            break;
        case Kind::String:
            put_string(p, s->text);
            break;
        }
        return true;
    }

    bool deserialize(SerializedPayload_t* p, void* data) override {
        auto* s = static_cast<Sample*>(data);
        Reader r{p};
        if (p->length < 4 || p->data[0] != 0 || p->data[1] != 1) return false;
        switch (kind_) {
        case Kind::Keyed:
            s->id = static_cast<int32_t>(r.u32());
            s->seq = r.u32();
            s->text = r.str();
            break;
        case Kind::KeyedSeq: {
            s->seq = r.u32();
            s->id = static_cast<int32_t>(r.u32());
            uint32_t n = r.u32();
            if (!r.ok || r.pos + n > p->length) return false;
            s->text.assign(reinterpret_cast<const char*>(p->data + r.pos), n);
            break;
        }
        case Kind::String:
            s->text = r.str();
            break;
        }
        return r.ok;
    }

    std::function<uint32_t()> getSerializedSizeProvider(void* data) override {
        auto* s = static_cast<Sample*>(data);
        return [s]() { return static_cast<uint32_t>(4 + 8 + 4 + s->text.size() + 1 + 3); };
    }

    void* createData() override { return new Sample(); }
    void deleteData(void* data) override { delete static_cast<Sample*>(data); }

    bool getKey(void* data, InstanceHandle_t* h, bool) override {
        if (kind_ == Kind::String) return false;
        auto* s = static_cast<Sample*>(data);
        // A 4-byte key: its big-endian serialization zero-padded to 16 bytes.
        std::memset(h->value, 0, 16);
        uint32_t id = static_cast<uint32_t>(s->id);
        h->value[0] = id >> 24; h->value[1] = id >> 16; h->value[2] = id >> 8; h->value[3] = id;
        return true;
    }

private:
    Kind kind_;
};

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: fastdds_peer pub|sub --topic T --type string|keyed ..." << std::endl;
        return 2;
    }
    std::string mode = argv[1];
    std::string topic_name = "interop_keyed";
    std::string type = "keyed";
    int count = 10, timeout = 20, domain = 0, dispose = -1;
    long size = -1;
    bool transient = false;
    for (int i = 2; i < argc; i++) {
        std::string a = argv[i];
        auto next = [&]() { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (a == "--topic") topic_name = next();
        else if (a == "--type") type = next();
        else if (a == "--count") count = std::stoi(next());
        else if (a == "--timeout") timeout = std::stoi(next());
        else if (a == "--domain") domain = std::stoi(next());
        else if (a == "--dispose") dispose = std::stoi(next());
        else if (a == "--transient-local") transient = true;
        else if (a == "--size") size = std::stol(next());
        else { std::cerr << "unknown argument " << a << std::endl; return 2; }
    }
    Kind kind = type == "keyed" ? Kind::Keyed : type == "keyedseq" ? Kind::KeyedSeq : Kind::String;
    bool keyed = kind != Kind::String;

    // Loopback only: no builtin transports, one UDPv4 transport whitelisted to 127.0.0.1.
    DomainParticipantQos pqos;
    pqos.transport().use_builtin_transports = false;
    auto udp = std::make_shared<eprosima::fastdds::rtps::UDPv4TransportDescriptor>();
    udp->interfaceWhiteList.push_back("127.0.0.1");
    pqos.transport().user_transports.push_back(udp);
    pqos.name("fastdds_peer");

    auto* factory = DomainParticipantFactory::get_instance();
    DomainParticipant* dp = factory->create_participant(domain, pqos);
    if (!dp) { std::cerr << "participant failed" << std::endl; return 2; }
    if (size > 64 * 1024 * 1024) { std::cerr << "--size too large" << std::endl; return 2; }
    uint32_t max_text = static_cast<uint32_t>(std::max<long>(size, 70000));
    TypeSupport ts(new SampleType(kind, max_text));
    ts.register_type(dp);
    Topic* topic = dp->create_topic(topic_name, ts.get_type_name(), TOPIC_QOS_DEFAULT);

    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
    int rc = 0;
    if (mode == "pub") {
        Publisher* pub = dp->create_publisher(PUBLISHER_QOS_DEFAULT);
        DataWriterQos wq = DATAWRITER_QOS_DEFAULT;
        wq.reliability().kind = RELIABLE_RELIABILITY_QOS;
        wq.durability().kind = transient ? TRANSIENT_LOCAL_DURABILITY_QOS : VOLATILE_DURABILITY_QOS;
        wq.history().kind = KEEP_ALL_HISTORY_QOS;
        wq.data_sharing().off();
        if (size >= 0) {
            // Large samples: allocate per sample rather than preallocating the history for the
            // maximum size, and send fragments from Fast DDS's own thread.
            wq.endpoint().history_memory_policy = eprosima::fastrtps::rtps::DYNAMIC_RESERVE_MEMORY_MODE;
            wq.publish_mode().kind = ASYNCHRONOUS_PUBLISH_MODE;
        }
        DataWriter* w = pub->create_datawriter(topic, wq);
        PublicationMatchedStatus st{};
        while (!transient) {
            w->get_publication_matched_status(st);
            if (st.current_count > 0) break;
            if (std::chrono::steady_clock::now() > deadline) {
                std::cerr << "no reader matched" << std::endl;
                return 1;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        for (int i = 0; i < count; i++) {
            Sample s;
            s.id = i % 3;
            s.seq = static_cast<uint32_t>(i);
            if (size >= 0) {
                s.text.resize(static_cast<size_t>(size));
                for (long j = 0; j < size; j++) {
                    s.text[j] = kind == Kind::String ? char('a' + (i + j) % 26) : char((i + j) % 251);
                }
            } else {
                s.text = kind == Kind::String ? "hello " + std::to_string(i) : "sample " + std::to_string(i);
            }
            if (!w->write(&s)) {
                std::cerr << "write " << i << " failed" << std::endl;
                rc = 1;
            }
        }
        if (dispose >= 0) {
            Sample s;
            s.id = dispose;
            w->dispose(&s, HANDLE_NIL);
        }
        if (transient) {
            // Stay up so a late reader can fetch the history.
            std::this_thread::sleep_until(deadline);
        } else {
            auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - std::chrono::steady_clock::now());
            eprosima::fastrtps::Duration_t d(static_cast<int32_t>(std::max<int64_t>(left.count(), 1)), 0);
            if (w->wait_for_acknowledgments(d) != ReturnCode_t::RETCODE_OK) {
                std::cerr << "not acknowledged" << std::endl;
                rc = 1;
            } else {
                std::cout << "acknowledged " << count << std::endl;
            }
        }
    } else {
        Subscriber* sub = dp->create_subscriber(SUBSCRIBER_QOS_DEFAULT);
        DataReaderQos rq = DATAREADER_QOS_DEFAULT;
        rq.reliability().kind = RELIABLE_RELIABILITY_QOS;
        rq.durability().kind = transient ? TRANSIENT_LOCAL_DURABILITY_QOS : VOLATILE_DURABILITY_QOS;
        rq.history().kind = KEEP_ALL_HISTORY_QOS;
        rq.data_sharing().off();
        if (size >= 0) {
            rq.endpoint().history_memory_policy = eprosima::fastrtps::rtps::DYNAMIC_RESERVE_MEMORY_MODE;
        }
        DataReader* r = sub->create_datareader(topic, rq);
        int got = 0;
        rc = 1;
        while (std::chrono::steady_clock::now() < deadline) {
            Sample s;
            SampleInfo info;
            while (r->take_next_sample(&s, &info) == ReturnCode_t::RETCODE_OK) {
                if (info.valid_data) {
                    std::cout << "alive " << s.id << " " << s.seq << " ";
                    if (s.text.size() > 100) {
                        std::cout << "[" << s.text.size() << " bytes]" << std::endl;
                    } else {
                        std::cout << s.text << std::endl;
                    }
                } else {
                    const auto& k = info.instance_handle.value;
                    uint32_t id = (uint32_t(k[0]) << 24) | (uint32_t(k[1]) << 16) | (uint32_t(k[2]) << 8) | k[3];
                    std::cout << (info.instance_state == NOT_ALIVE_DISPOSED_INSTANCE_STATE ? "disposed " : "unregistered ")
                              << id << std::endl;
                }
                got++;
            }
            if (got >= count) { rc = 0; break; }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (rc) std::cerr << "timeout after " << got << " samples" << std::endl;
    }
    dp->delete_contained_entities();
    factory->delete_participant(dp);
    return rc;
}
