# ruff: noqa: E501  (message texts read better whole)
"""German, French, Spanish and Japanese conversations, in the format of seeds_en.py."""

from __future__ import annotations

SEEDS: list[dict[str, object]] = [
    {
        "id": "de-incident-checkout",
        "lang": "de",
        "domain": "incident",
        "title": "Checkout-Ausfall nach Release",
        "size": 30,
        "people": {"anna": "Anna Becker", "jonas": "Jonas Wolf", "lena": "Lena Vogel"},
        "script": """
- anna: Seit dem Release um 10 Uhr schlagen 20% der Bestellungen im Checkout fehl.
D jonas: Wir haben entschieden, das Release sofort zurückzurollen. ## zurückzurollen
Q lena: Ist der Zahlungsdienstleister auch betroffen? ## Zahlungsdienstleister
A anna: Ich übernehme die Kundenkommunikation bis 12 Uhr. ## Kundenkommunikation
A>lena jonas: Lena, kannst du bitte das Postmortem bis Freitag schreiben? ## Postmortem
F 1: Was wurde zum Release entschieden? ## zurück
""",
    },
    {
        "id": "de-launch-webshop",
        "lang": "de",
        "domain": "launch",
        "title": "Launch des neuen Webshops",
        "size": 200,
        "people": {"paul": "Paul Richter", "sara": "Sara Neumann", "tim": "Tim Krause"},
        "script": """
- paul: Der Lasttest für den neuen Webshop ist bestanden.
D sara: Beschlossen: Der Webshop geht am 1. Juni live, zuerst nur in Österreich. ## 1. Juni; Österreich
Q tim: Sollen wir die alte Seite parallel weiterlaufen lassen? ## alte Seite
A paul: Ich kümmere mich um die Weiterleitungen der alten URLs. ## Weiterleitungen
A>tim sara: Tim, kannst du das Marketing-Team informieren? ## Marketing
F 1: Wann geht der Webshop live? ## 1. Juni
""",
    },
    {
        "id": "de-hiring-designer",
        "lang": "de",
        "domain": "hiring",
        "title": "Einstellung Produktdesigner",
        "size": 12,
        "people": {"eva": "Eva Hoffmann", "lukas": "Lukas Braun", "mia": "Mia Schulz"},
        "script": """
- eva: Die Designerin hat die Fallstudie sehr überzeugend präsentiert.
D lukas: Wir sind uns einig, ihr ein Angebot zu machen. ## Angebot
Q mia: Können wir einen Start im September anbieten? ## September
A eva: Ich schicke das Angebot bis Mittwoch raus. ## Angebot
F 1: Was wurde entschieden? ## Angebot
""",
    },
    {
        "id": "de-vendor-logistik",
        "lang": "de",
        "domain": "vendor",
        "title": "Verhandlung mit dem Logistikpartner",
        "size": 900,
        "people": {"felix": "Felix Kaiser", "nina": "Nina Frank", "otto": "Otto Lang"},
        "script": """
- felix: Der Logistikpartner will die Preise um 9% erhöhen.
Q nina: Gibt es einen Mengenrabatt ab 10.000 Paketen im Monat? ## Mengenrabatt
D otto: Wir haben uns geeinigt, höchstens 4% Erhöhung zu akzeptieren. ## 4%
A felix: Ich bereite die Vergleichsangebote für das Gespräch vor. ## Vergleichsangebote
A>nina otto: Nina, bitte kläre die Kündigungsfrist im Vertrag. ## Kündigungsfrist
F 2: Welche Erhöhung wird höchstens akzeptiert? ## 4%
""",
    },
    {
        "id": "de-support-datenexport",
        "lang": "de",
        "domain": "support",
        "title": "Eskalation: fehlender Datenexport",
        "size": 70,
        "people": {"ida": "Ida König", "ben2": "Benno Roth", "cara": "Cara Engel"},
        "script": """
- ida: Ein Großkunde bekommt seit Montag keinen DSGVO-Datenexport.
D ben2: Entscheidung: Wir erstellen den Export heute manuell. ## manuell
A cara: Ich melde mich beim Kunden, sobald der Export fertig ist. ## Kunden
Q ida: Müssen wir den Datenschutzbeauftragten informieren? ## Datenschutzbeauftragten
F 1: Wie wird der Export erstellt? ## manuell
""",
    },
    {
        "id": "fr-incident-cdn",
        "lang": "fr",
        "domain": "incident",
        "title": "Panne du CDN",
        "size": 50,
        "people": {"luc": "Luc Martin", "chloe": "Chloé Bernard", "hugo": "Hugo Petit"},
        "script": """
- luc: Les images ne se chargent plus pour les utilisateurs en Europe depuis 8h.
D chloe: Nous avons décidé de basculer tout le trafic vers le CDN de secours. ## CDN de secours
Q hugo: Est-ce que le certificat du CDN de secours est encore valide ? ## certificat
A luc: Je m'occupe de la page de statut. ## page de statut
A>hugo chloe: Hugo, peux-tu ouvrir un ticket chez le fournisseur ? ## ticket
F 1: Vers quoi le trafic a-t-il été basculé ? ## secours
""",
    },
    {
        "id": "fr-launch-newsletter",
        "lang": "fr",
        "domain": "launch",
        "title": "Lancement de la newsletter produit",
        "size": 16,
        "people": {"emma": "Emma Roux", "leo": "Léo Fournier", "ines": "Inès Girard"},
        "script": """
- emma: La première newsletter produit est prête à 90%.
D leo: C'est décidé : envoi le jeudi à 9h, tous les quinze jours. ## jeudi; quinze jours
Q ines: Faut-il un double opt-in pour les clients allemands ? ## double opt-in
A emma: Je finalise le texte d'ici demain. ## texte
F 1: Quand la newsletter est-elle envoyée ? ## jeudi
""",
    },
    {
        "id": "fr-hiring-data",
        "lang": "fr",
        "domain": "hiring",
        "title": "Recrutement d'un data analyst",
        "size": 250,
        "people": {"paul": "Paul Lefèvre", "julie": "Julie Moreau", "marc": "Marc Simon"},
        "script": """
- julie: Trois candidats ont passé l'étude de cas.
D paul: Nous sommes d'accord pour recruter la deuxième candidate. ## deuxième candidate
Q marc: Peut-on proposer du télétravail trois jours par semaine ? ## télétravail
A julie: Je prépare la proposition d'embauche cette semaine. ## proposition
A>marc paul: Marc, peux-tu prévenir les deux autres candidats ? ## prévenir
F 1: Quelle candidate sera recrutée ? ## deuxième
""",
    },
    {
        "id": "fr-vendor-imprimeur",
        "lang": "fr",
        "domain": "vendor",
        "title": "Négociation avec l'imprimeur",
        "size": 1500,
        "people": {"anne": "Anne Dubois", "remi": "Rémi Laurent", "zoe": "Zoé Mercier"},
        "script": """
- anne: L'imprimeur propose 0,42 € par catalogue pour 50 000 exemplaires.
Q remi: Est-ce que le délai de livraison de trois semaines est garanti ? ## délai
D zoe: Nous avons validé la commande à 0,38 € avec une pénalité de retard. ## 0,38; pénalité
A anne: Je rédige le bon de commande demain. ## bon de commande
F 2: À quel prix la commande a-t-elle été validée ? ## 0,38
""",
    },
    {
        "id": "fr-support-facturation",
        "lang": "fr",
        "domain": "support",
        "title": "Escalade : erreurs de facturation",
        "size": 90,
        "people": {"lea": "Léa Garnier", "tom": "Tom Chevalier", "noe": "Noé Faure"},
        "script": """
- lea: Douze clients ont reçu une facture en double ce mois-ci.
D tom: Décision : on annule les doublons et on envoie un avoir à chacun. ## avoir
A noe: Je contacte les douze clients aujourd'hui. ## douze clients
Q lea: Faut-il prévenir la comptabilité avant la clôture ? ## comptabilité
F 1: Que reçoivent les clients ? ## avoir
""",
    },
    {
        "id": "es-incident-pagos",
        "lang": "es",
        "domain": "incident",
        "title": "Caída de la pasarela de pagos",
        "size": 35,
        "people": {"lucia": "Lucía García", "pablo": "Pablo Romero", "sofia": "Sofía Díaz"},
        "script": """
- lucia: La pasarela de pagos rechaza el 30% de las tarjetas desde las 11:00.
D pablo: Hemos decidido desactivar el nuevo antifraude hasta mañana. ## antifraude
Q sofia: ¿Avisamos a los comercios afectados por correo? ## comercios
A lucia: Yo me encargo de revisar las transacciones rechazadas. ## transacciones rechazadas
A>sofia pablo: Sofía, ¿puedes preparar el informe del incidente para el viernes? ## informe
F 1: ¿Qué se desactivó? ## antifraude
""",
    },
    {
        "id": "es-launch-app",
        "lang": "es",
        "domain": "launch",
        "title": "Lanzamiento en México",
        "size": 180,
        "people": {"diego": "Diego Torres", "marta": "Marta Ruiz", "raul": "Raúl Vega"},
        "script": """
- diego: La app ya está traducida al español de México.
D marta: Acordamos lanzar en México el 15 de octubre. ## 15 de octubre
Q raul: ¿Necesitamos un proveedor de pagos local? ## proveedor de pagos
A diego: Me encargo de la campaña en redes sociales. ## campaña
A>raul marta: Raúl, ¿puedes revisar los requisitos fiscales? ## requisitos fiscales
F 1: ¿Cuándo es el lanzamiento? ## 15 de octubre
""",
    },
    {
        "id": "es-hiring-soporte",
        "lang": "es",
        "domain": "hiring",
        "title": "Contratación de agentes de soporte",
        "size": 14,
        "people": {"ana": "Ana Molina", "luis": "Luis Navarro", "eva": "Eva Castro"},
        "script": """
- ana: Necesitamos cubrir el turno de noche de soporte.
D luis: Decidimos contratar a tres agentes para el turno de noche. ## tres agentes
Q eva: ¿Ofrecemos un plus de nocturnidad? ## plus de nocturnidad
A ana: Yo publico la oferta esta semana. ## oferta
F 1: ¿Cuántos agentes se contratan? ## tres
""",
    },
    {
        "id": "es-vendor-oficinas",
        "lang": "es",
        "domain": "vendor",
        "title": "Negociación del alquiler de oficinas",
        "size": 700,
        "people": {"jorge": "Jorge Ramos", "clara": "Clara Gil", "ivan": "Iván Ortega"},
        "script": """
- jorge: El propietario pide un aumento del 12% en el alquiler.
Q clara: ¿Podemos reducir la superficie a una sola planta? ## una sola planta
D ivan: Hemos acordado renovar por cinco años con un aumento del 5%. ## cinco años; 5%
A jorge: Yo preparo la contrapropuesta por escrito. ## contrapropuesta
F 2: ¿Cuál es el aumento acordado? ## 5%
""",
    },
    {
        "id": "es-support-envios",
        "lang": "es",
        "domain": "support",
        "title": "Escalada: envíos retrasados",
        "size": 100,
        "people": {"irene": "Irene León", "hector": "Héctor Sanz", "nora": "Nora Peña"},
        "script": """
- irene: Un cliente mayorista lleva dos semanas sin recibir sus pedidos.
D hector: Decidimos enviar los pedidos por mensajería urgente sin coste. ## mensajería urgente
A nora: Yo llamo al cliente hoy para disculparnos. ## llamo
Q irene: ¿Le ofrecemos un descuento en el próximo pedido? ## descuento
F 1: ¿Cómo se enviarán los pedidos? ## urgente
""",
    },
    {
        "id": "ja-incident-api",
        "lang": "ja",
        "domain": "incident",
        "title": "APIのレイテンシ急増",
        "size": 45,
        "people": {"sato": "佐藤 健", "suzuki": "鈴木 彩", "tanaka": "田中 翔"},
        "script": """
- sato: 13時からAPIのレイテンシが通常の5倍になっています。
D suzuki: 決定：キャッシュサーバーを再起動して、新しい設定を切り戻します。 ## 切り戻し
Q tanaka: 原因はデータベースのインデックスでしょうか？ ## インデックス
A sato: 私がお客様向けの告知を書きます。 ## 告知
A>tanaka suzuki: 田中さん、金曜日までに振り返り資料を作ってもらえますか？ ## 振り返り
F 1: 何を切り戻しましたか？ ## 設定
""",
    },
    {
        "id": "ja-launch-campaign",
        "lang": "ja",
        "domain": "launch",
        "title": "新プランのリリース",
        "size": 20,
        "people": {"ito": "伊藤 真", "kato": "加藤 美咲", "yamada": "山田 大輔"},
        "script": """
- ito: 新しい法人プランの準備がほぼ完了しました。
D kato: 法人プランは4月1日に公開することに決定しました。 ## 4月1日
Q yamada: 既存のお客様への案内はいつ送りますか？ ## 既存のお客様
A ito: 私がプレスリリースを準備します。 ## プレスリリース
F 1: 法人プランはいつ公開されますか？ ## 4月1日
""",
    },
    {
        "id": "ja-hiring-engineer",
        "lang": "ja",
        "domain": "hiring",
        "title": "エンジニア採用の最終面接",
        "size": 350,
        "people": {"kobayashi": "小林 優", "watanabe": "渡辺 結衣", "nakamura": "中村 陸"},
        "script": """
- kobayashi: 最終面接の評価が全員分そろいました。
D watanabe: 内定を出すことで合意しました。 ## 内定
Q nakamura: 入社日は7月で調整できますか？ ## 入社日
A kobayashi: 私が条件通知書を水曜日までに送ります。 ## 条件通知書
F 1: 何について合意しましたか？ ## 内定
""",
    },
    {
        "id": "ja-support-billing",
        "lang": "ja",
        "domain": "support",
        "title": "請求エラーのエスカレーション",
        "size": 1000,
        "people": {"matsumoto": "松本 遥", "inoue": "井上 拓", "kimura": "木村 葵"},
        "script": """
- matsumoto: 大口顧客から二重請求の問い合わせが来ています。
D inoue: 全額返金して、お詫びのメールを送ることに決定しました。 ## 全額返金
Q kimura: 他の顧客にも同じ問題が起きていますか？ ## 他の顧客
A matsumoto: 私が経理チームに返金処理を依頼します。 ## 返金処理
F 1: 顧客への対応は何ですか？ ## 返金
""",
    },
]
