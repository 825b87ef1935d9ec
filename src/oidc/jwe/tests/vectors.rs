//! Published test vectors: RFC 7516 Appendix A.1 and A.2, RFC 7518 Appendix B.1 and B.3, and
//! RFC 7520 §5.2 (as published in the ietf-jose/cookbook data the RFC was made from).

/// RFC 7516 A.1: the RSA key of Figure 3 (JWK, private parameters included).
pub const RFC7516_A1_JWK: &str = r#"{"kty":"RSA",
 "n":"oahUIoWw0K0usKNuOR6H4wkf4oBUXHTxRvgb48E-BVvxkeDNjbC4he8rUWcJoZmds2h7M70imEVhRU5djINXtqllXI4DFqcI1DgjT9LewND8MW2Krf3Spsk_ZkoFnilakGygTwpZ3uesH-PFABNIUYpOiN15dsQRkgr0vEhxN92i2asbOenSZeyaxziK72UwxrrKoExv6kc5twXTq4h-QChLOln0_mtUZwfsRaMStPs6mS6XrgxnxbWhojf663tuEQueGC-FCMfra36C9knDFGzKsNa7LZK2djYgyD3JR_MB_4NUJW_TqOQtwHYbxevoJArm-L5StowjzGy-_bq6Gw",
 "e":"AQAB",
 "d":"kLdtIj6GbDks_ApCSTYQtelcNttlKiOyPzMrXHeI-yk1F7-kpDxY4-WY5NWV5KntaEeXS1j82E375xxhWMHXyvjYecPT9fpwR_M9gV8n9Hrh2anTpTD93Dt62ypW3yDsJzBnTnrYu1iwWRgBKrEYY46qAZIrA2xAwnm2X7uGR1hghkqDp0Vqj3kbSCz1XyfCs6_LehBwtxHIyh8Ripy40p24moOAbgxVw3rxT_vlt3UVe4WO3JkJOzlpUf-KTVI2Ptgm-dARxTEtE-id-4OJr0h-K-VFs3VSndVTIznSxfyrj8ILL6MG_Uv8YAu7VILSB3lOW085-4qE3DzgrTjgyQ",
 "p":"1r52Xk46c-LsfB5P442p7atdPUrxQSy4mti_tZI3Mgf2EuFVbUoDBvaRQ-SWxkbkmoEzL7JXroSBjSrK3YIQgYdMgyAEPTPjXv_hI2_1eTSPVZfzL0lffNn03IXqWF5MDFuoUYE0hzb2vhrlN_rKrbfDIwUbTrjjgieRbwC6Cl0",
 "q":"wLb35x7hmQWZsWJmB_vle87ihgZ19S8lBEROLIsZG4ayZVe9Hi9gDVCOBmUDdaDYVTSNx_8Fyw1YYa9XGrGnDew00J28cRUoeBB_jKI1oma0Orv1T9aXIWxKwd4gvxFImOWr3QRL9KEBRzk2RatUBnmDZJTIAfwTs0g68UZHvtc",
 "dp":"ZK-YwE7diUh0qR1tR7w8WHtolDx3MZ_OTowiFvgfeQ3SiresXjm9gZ5KLhMXvo-uz-KUJWDxS5pFQ_M0evdo1dKiRTjVw_x4NyqyXPM5nULPkcpU827rnpZzAJKpdhWAgqrXGKAECQH0Xt4taznjnd_zVpAmZZq60WPMBMfKcuE",
 "dq":"Dq0gfgJ1DdFGXiLvQEZnuKEN0UUmsJBxkjydc3j4ZYdBiMRAy86x0vHCjywcMlYYg4yoC4YZa9hNVcsjqA3FeiL19rk8g6Qn29Tt0cj8qqyFpz9vNDBUfCAiJVeESOjJDZPYHdHY8v1b-o-Z2X5tvLx-TCekf7oxyeKDUqKWjis",
 "qi":"VIMpMYbPf47dT1w_zDUXfPimsSegnMOA1zTaX7aGk_8urY6R8-ZW1FxU7AlWAyLWybqq6t16VFd7hQd0y6flUK4SlOydB61gwanOsXGOAOv82cHq0E3eL4HrtZkUuKvnPrMnsUUFlfUdybVzxyjz9JF_XyaY14ardLSjf4L_FNY"}"#;

/// RFC 7516 A.1.7: the complete JWE (RSA-OAEP, A256GCM, no `kid`).
pub const RFC7516_A1_TOKEN: &str = concat!(
    "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.",
    "OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGe",
    "ipsEdY3mx_etLbbWSrFr05kLzcSr4qKAq7YN7e9jwQRb23nfa6c9d-StnImGyFDb",
    "Sv04uVuxIp5Zms1gNxKKK2Da14B8S4rzVRltdYwam_lDp5XnZAYpQdb76FdIKLaV",
    "mqgfwX7XWRxv2322i-vDxRfqNzo_tETKzpVLzfiwQyeyPGLBIO56YJ7eObdv0je8",
    "1860ppamavo35UgoRdbYaBcoh9QcfylQr66oc6vFWXRcZ_ZT2LawVCWTIy3brGPi",
    "6UklfCpIMfIjf7iGdXKHzg.",
    "48V1_ALb6US04U3b.",
    "5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6ji",
    "SdiwkIr3ajwQzaBtQD_A.",
    "XFBoMYUZodetZdvTiFvSkQ",
);

/// RFC 7516 A.1: the plaintext.
pub const RFC7516_A1_PLAINTEXT: &str =
    "The true sign of intelligence is not knowledge but imagination.";

/// RFC 7516 A.1.2: the content encryption key.
pub const RFC7516_A1_CEK: [u8; 32] = [
    177, 161, 244, 128, 84, 143, 225, 115, 63, 180, 3, 255, 107, 154, 212, 246, 138, 7, 110, 91,
    112, 46, 34, 105, 47, 130, 203, 46, 122, 234, 64, 252,
];

/// RFC 7516 A.2.7: the complete JWE (RSA1_5, A128CBC-HS256), a key management this module refuses.
pub const RFC7516_A2_TOKEN: &str = concat!(
    "eyJhbGciOiJSU0ExXzUiLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0.",
    "UGhIOguC7IuEvf_NPVaXsGMoLOmwvc1GyqlIKOK1nN94nHPoltGRhWhw7Zx0-kFm",
    "1NJn8LE9XShH59_i8J0PH5ZZyNfGy2xGdULU7sHNF6Gp2vPLgNZ__deLKxGHZ7Pc",
    "HALUzoOegEI-8E66jX2E4zyJKx-YxzZIItRzC5hlRirb6Y5Cl_p-ko3YvkkysZIF",
    "NPccxRU7qve1WYPxqbb2Yw8kZqa2rMWI5ng8OtvzlV7elprCbuPhcCdZ6XDP0_F8",
    "rkXds2vE4X-ncOIM8hAYHHi29NX0mcKiRaD0-D-ljQTP-cFPgwCp6X-nZZd9OHBv",
    "-B3oWh2TbqmScqXMR4gp_A.",
    "AxY8DCtDaGlsbGljb3RoZQ.",
    "KDlTtXchhZTGufMYmOYGS4HffxPSUrfmqCHXaI9wOGY.",
    "9hH0vgRfYgPnAHOd8stkvw",
);

/// RFC 7516 A.2: the plaintext.
pub const RFC7516_A2_PLAINTEXT: &str = "Live long and prosper.";

/// RFC 7516 A.2.2: the content encryption key (A128CBC-HS256: MAC key, then AES key).
pub const RFC7516_A2_CEK: [u8; 32] = [
    4, 211, 31, 197, 84, 157, 252, 254, 11, 100, 157, 250, 63, 170, 106, 206, 107, 124, 212, 45,
    111, 107, 9, 219, 200, 177, 0, 240, 143, 156, 44, 207,
];

/// RFC 7518 B.1 to B.3: the plaintext P ("A cipher system must not be required to be secret, and
/// it must be able to fall into the hands of the enemy without inconvenience").
pub const RFC7518_B_PLAINTEXT: &str = "\
    41 20 63 69 70 68 65 72 20 73 79 73 74 65 6d 20 \
    6d 75 73 74 20 6e 6f 74 20 62 65 20 72 65 71 75 \
    69 72 65 64 20 74 6f 20 62 65 20 73 65 63 72 65 \
    74 2c 20 61 6e 64 20 69 74 20 6d 75 73 74 20 62 \
    65 20 61 62 6c 65 20 74 6f 20 66 61 6c 6c 20 69 \
    6e 74 6f 20 74 68 65 20 68 61 6e 64 73 20 6f 66 \
    20 74 68 65 20 65 6e 65 6d 79 20 77 69 74 68 6f \
    75 74 20 69 6e 63 6f 6e 76 65 6e 69 65 6e 63 65";

/// RFC 7518 B.1 to B.3: the initialization vector.
pub const RFC7518_B_IV: &str = "1a f3 8c 2d c2 b9 6f fd d8 66 94 09 23 41 bc 04";

/// RFC 7518 B.1 to B.3: the associated data A ("The second principle of Auguste Kerckhoffs").
pub const RFC7518_B_AAD: &str = "\
    54 68 65 20 73 65 63 6f 6e 64 20 70 72 69 6e 63 \
    69 70 6c 65 20 6f 66 20 41 75 67 75 73 74 65 20 \
    4b 65 72 63 6b 68 6f 66 66 73";

/// RFC 7518 B.1: K for AES_128_CBC_HMAC_SHA_256.
pub const RFC7518_B1_KEY: &str = "\
    00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f \
    10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f";

/// RFC 7518 B.1: E.
pub const RFC7518_B1_CIPHERTEXT: &str = "\
    c8 0e df a3 2d df 39 d5 ef 00 c0 b4 68 83 42 79 \
    a2 e4 6a 1b 80 49 f7 92 f7 6b fe 54 b9 03 a9 c9 \
    a9 4a c9 b4 7a d2 65 5c 5f 10 f9 ae f7 14 27 e2 \
    fc 6f 9b 3f 39 9a 22 14 89 f1 63 62 c7 03 23 36 \
    09 d4 5a c6 98 64 e3 32 1c f8 29 35 ac 40 96 c8 \
    6e 13 33 14 c5 40 19 e8 ca 79 80 df a4 b9 cf 1b \
    38 4c 48 6f 3a 54 c5 10 78 15 8e e5 d7 9d e5 9f \
    bd 34 d8 48 b3 d6 95 50 a6 76 46 34 44 27 ad e5 \
    4b 88 51 ff b5 98 f7 f8 00 74 b9 47 3c 82 e2 db";

/// RFC 7518 B.1: T.
pub const RFC7518_B1_TAG: &str = "65 2c 3f a3 6b 0a 7c 5b 32 19 fa b3 a3 0b c1 c4";

/// RFC 7518 B.3: K for AES_256_CBC_HMAC_SHA_512.
pub const RFC7518_B3_KEY: &str = "\
    00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f \
    10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f \
    20 21 22 23 24 25 26 27 28 29 2a 2b 2c 2d 2e 2f \
    30 31 32 33 34 35 36 37 38 39 3a 3b 3c 3d 3e 3f";

/// RFC 7518 B.3: E.
pub const RFC7518_B3_CIPHERTEXT: &str = "\
    4a ff aa ad b7 8c 31 c5 da 4b 1b 59 0d 10 ff bd \
    3d d8 d5 d3 02 42 35 26 91 2d a0 37 ec bc c7 bd \
    82 2c 30 1d d6 7c 37 3b cc b5 84 ad 3e 92 79 c2 \
    e6 d1 2a 13 74 b7 7f 07 75 53 df 82 94 10 44 6b \
    36 eb d9 70 66 29 6a e6 42 7e a7 5c 2e 08 46 a1 \
    1a 09 cc f5 37 0d c8 0b fe cb ad 28 c7 3f 09 b3 \
    a3 b7 5e 66 2a 25 94 41 0a e4 96 b2 e2 e6 60 9e \
    31 e6 e0 2c c8 37 f0 53 d2 1f 37 ff 4f 51 95 0b \
    be 26 38 d0 9d d7 a4 93 09 30 80 6d 07 03 b1 f6";

/// RFC 7518 B.3: T.
pub const RFC7518_B3_TAG: &str = "\
    4d d3 b4 c0 88 a7 f4 5c 21 68 39 64 5b 20 12 bf \
    2e 62 69 a8 c5 6a 81 6d bc 1b 26 77 61 95 5b c5";

/// RFC 7520 §5.2: the 4096-bit RSA key of Figure 84 (JWK, private parameters included).
pub const RFC7520_5_2_JWK: &str = r#"{"kty":"RSA","kid":"samwise.gamgee@hobbiton.example","use":"enc",
 "n":"wbdxI55VaanZXPY29Lg5hdmv2XhvqAhoxUkanfzf2-5zVUxa6prHRrI4pP1AhoqJRlZfYtWWd5mmHRG2pAHIlh0ySJ9wi0BioZBl1XP2e-C-FyXJGcTy0HdKQWlrfhTm42EW7Vv04r4gfao6uxjLGwfpGrZLarohiWCPnkNrg71S2CuNZSQBIPGjXfkmIy2tl_VWgGnL22GplyXj5YlBLdxXp3XeStsqo571utNfoUTU8E4qdzJ3U1DItoVkPGsMwlmmnJiwA7sXRItBCivR4M5qnZtdw-7v4WuR4779ubDuJ5nalMv2S66-RPcnFAzWSKxtBDnFJJDGIUe7Tzizjg1nms0Xq_yPub_UOlWn0ec85FCft1hACpWG8schrOBeNqHBODFskYpUc2LC5JA2TaPF2dA67dg1TTsC_FupfQ2kNGcE1LgprxKHcVWYQb86B-HozjHZcqtauBzFNV5tbTuB-TpkcvJfNcFLlH3b8mb-H_ox35FjqBSAjLKyoeqfKTpVjvXhd09knwgJf6VKq6UC418_TOljMVfFTWXUxlnfhOOnzW6HSSzD1c9WrCuVzsUMv54szidQ9wf1cYWf3g5qFDxDQKis99gcDaiCAwM3yEBIzuNeeCa5dartHDb1xEB_HcHSeYbghbMjGfasvKn0aZRsnTyC0xhWBlsolZE",
 "e":"AQAB",
 "d":"n7fzJc3_WG59VEOBTkayzuSMM780OJQuZjN_KbH8lOZG25ZoA7T4Bxcc0xQn5oZE5uSCIwg91oCt0JvxPcpmqzaJZg1nirjcWZ-oBtVk7gCAWq-B3qhfF3izlbkosrzjHajIcY33HBhsy4_WerrXg4MDNE4HYojy68TcxT2LYQRxUOCf5TtJXvM8olexlSGtVnQnDRutxEUCwiewfmmrfveEogLx9EA-KMgAjTiISXxqIXQhWUQX1G7v_mV_Hr2YuImYcNcHkRvp9E7ook0876DhkO8v4UOZLwA1OlUX98mkoqwc58A_Y2lBYbVx1_s5lpPsEqbbH-nqIjh1fL0gdNfihLxnclWtW7pCztLnImZAyeCWAG7ZIfv-Rn9fLIv9jZ6r7r-MSH9sqbuziHN2grGjD_jfRluMHa0l84fFKl6bcqN1JWxPVhzNZo01yDF-1LiQnqUYSepPf6X3a2SOdkqBRiquE6EvLuSYIDpJq3jDIsgoL8Mo1LoomgiJxUwL_GWEOGu28gplyzm-9Q0U0nyhEf1uhSR8aJAQWAiFImWH5W_IQT9I7-yrindr_2fWQ_i1UgMsGzA7aOGzZfPljRy6z-tY_KuBG00-28S_aWvjyUc-Alp8AUyKjBZ-7CWH32fGWK48j1t-zomrwjL_mnhsPbGs0c9WsWgRzI-K8gE",
 "p":"7_2v3OQZzlPFcHyYfLABQ3XP85Es4hCdwCkbDeltaUXgVy9l9etKghvM4hRkOvbb01kYVuLFmxIkCDtpi-zLCYAdXKrAK3PtSbtzld_XZ9nlsYa_QZWpXB_IrtFjVfdKUdMz94pHUhFGFj7nr6NNxfpiHSHWFE1zD_AC3mY46J961Y2LRnreVwAGNw53p07Db8yD_92pDa97vqcZOdgtybH9q6uma-RFNhO1AoiJhYZj69hjmMRXx-x56HO9cnXNbmzNSCFCKnQmn4GQLmRj9sfbZRqL94bbtE4_e0Zrpo8RNo8vxRLqQNwIy85fc6BRgBJomt8QdQvIgPgWCv5HoQ",
 "q":"zqOHk1P6WN_rHuM7ZF1cXH0x6RuOHq67WuHiSknqQeefGBA9PWs6ZyKQCO-O6mKXtcgE8_Q_hA2kMRcKOcvHil1hqMCNSXlflM7WPRPZu2qCDcqssd_uMbP-DqYthH_EzwL9KnYoH7JQFxxmcv5An8oXUtTwk4knKjkIYGRuUwfQTus0w1NfjFAyxOOiAQ37ussIcE6C6ZSsM3n41UlbJ7TCqewzVJaPJN5cxjySPZPD3Vp01a9YgAD6a3IIaKJdIxJS1ImnfPevSJQBE79-EXe2kSwVgOzvt-gsmM29QQ8veHy4uAqca5dZzMs7hkkHtw1z0jHV90epQJJlXXnH8Q",
 "dp":"19oDkBh1AXelMIxQFm2zZTqUhAzCIr4xNIGEPNoDt1jK83_FJA-xnx5kA7-1erdHdms_Ef67HsONNv5A60JaR7w8LHnDiBGnjdaUmmuO8XAxQJ_ia5mxjxNjS6E2yD44USo2JmHvzeeNczq25elqbTPLhUpGo1IZuG72FZQ5gTjXoTXC2-xtCDEUZfaUNh4IeAipfLugbpe0JAFlFfrTDAMUFpC3iXjxqzbEanflwPvj6V9iDSgjj8SozSM0dLtxvu0LIeIQAeEgT_yXcrKGmpKdSO08kLBx8VUjkbv_3Pn20Gyu2YEuwpFlM_H1NikuxJNKFGmnAq9LcnwwT0jvoQ",
 "dq":"S6p59KrlmzGzaQYQM3o0XfHCGvfqHLYjCO557HYQf72O9kLMCfd_1VBEqeD-1jjwELKDjck8kOBl5UvohK1oDfSP1DleAy-cnmL29DqWmhgwM1ip0CCNmkmsmDSlqkUXDi6sAaZuntyukyflI-qSQ3C_BafPyFaKrt1fgdyEwYa08pESKwwWisy7KnmoUvaJ3SaHmohFS78TJ25cfc10wZ9hQNOrIChZlkiOdFCtxDqdmCqNacnhgE3bZQjGp3n83ODSz9zwJcSUvODlXBPc2AycH6Ci5yjbxt4Ppox_5pjm6xnQkiPgj01GpsUssMmBN7iHVsrE7N2iznBNCeOUIQ",
 "qi":"FZhClBMywVVjnuUud-05qd5CYU0dK79akAgy9oX6RX6I3IIIPckCciRrokxglZn-omAY5CnCe4KdrnjFOT5YUZE7G_Pg44XgCXaarLQf4hl80oPEf6-jJ5Iy6wPRx7G2e8qLxnh9cOdf-kRqgOS3F48Ucvw3ma5V6KGMwQqWFeV31XtZ8l5cVI-I3NzBS7qltpUVgz2Ju021eyc7IlqgzR98qKONl27DuEES0aK0WE97jnsyO27Yp88Wa2RiBrEocM89QZI1seJiGDizHRUP4UZxw9zsXww46wy0P6f9grnYp7t8LkyDDk8eoI4KX6SNMNVcyVS9IWjlq8EzqZEKIA"}"#;

/// RFC 7520 §5.2.5: the compact serialization (RSA-OAEP, A256GCM, `kid` set).
pub const RFC7520_5_2_TOKEN: &str = concat!(
    "eyJhbGciOiJSU0EtT0FFUCIsImtpZCI6InNhbXdpc2UuZ2FtZ2VlQGhvYmJpdG9uLmV4YW1wbGUiLCJlbmMiOiJBMjU2R0NNIn0.",
    "rT99rwrBTbTI7IJM8fU3Eli7226HEB7IchCxNuh7lCiud48LxeolRdtFF4nzQibeYOl5S_PJsAXZwSXtDePz9hk-BbtsTBqC2UsPOdwjC9NhNupNNu9uHIVftDyucvI6hvALeZ6OGnhNV4v1zx2k7O1D89mAzfw-_kT3tkuorpDU-CpBENfIHX1Q58-Aad3FzMuo3Fn9buEP2yXakLXYa15BUXQsupM4A1GD4_H4Bd7V3u9h8Gkg8BpxKdUV9ScfJQTcYm6eJEBz3aSwIaK4T3-dwWpuBOhROQXBosJzS1asnuHtVMt2pKIIfux5BC6huIvmY7kzV7W7aIUrpYm_3H4zYvyMeq5pGqFmW2k8zpO878TRlZx7pZfPYDSXZyS0CfKKkMozT_qiCwZTSz4duYnt8hS4Z9sGthXn9uDqd6wycMagnQfOTs_lycTWmY-aqWVDKhjYNRf03NiwRtb5BE-tOdFwCASQj3uuAgPGrO2AWBe38UjQb0lvXn1SpyvYZ3WFc7WOJYaTa7A8DRn6MC6T-xDmMuxC0G7S2rscw5lQQU06MvZTlFOt0UvfuKBa03cxA_nIBIhLMjY2kOTxQMmpDPTr6Cbo8aKaOnx6ASE5Jx9paBpnNmOOKH35j_QlrQhDWUN6A2Gg8iFayJ69xDEdHAVCGRzN3woEI2ozDRs.",
    "-nBoKLH0YkLZPSI9.",
    "o4k2cnGN8rSSw3IDo1YuySkqeS_t2m1GXklSgqBdpACm6UJuJowOHC5ytjqYgRL-I-soPlwqMUf4UgRWWeaOGNw6vGW-xyM01lTYxrXfVzIIaRdhYtEMRBvBWbEwP7ua1DRfvaOjgZv6Ifa3brcAM64d8p5lhhNcizPersuhw5f-pGYzseva-TUaL8iWnctc-sSwy7SQmRkfhDjwbz0fz6kFovEgj64X1I5s7E6GLp5fnbYGLa1QUiML7Cc2GxgvI7zqWo0YIEc7aCflLG1-8BboVWFdZKLK9vNoycrYHumwzKluLWEbSVmaPpOslY2n525DxDfWaVFUfKQxMF56vn4B9QMpWAbnypNimbM8zVOw.",
    "UCGiqJxhBI3IFVdPalHHvA",
);

/// RFC 7520 §5: the plaintext (Figure 72), with its two EN DASH (U+2013) characters.
pub const RFC7520_PLAINTEXT: &str = "You can trust us to stick with you through thick and \
    thin\u{2013}to the bitter end. And you can trust us to keep any secret of yours\u{2013}closer \
    than you keep it yourself. But you cannot trust us to let you face trouble alone, and go off \
    without a word. We are your friends, Frodo.";
