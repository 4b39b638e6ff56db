/**
 * Hand-curated word lists for the name/place/organisation detectors and the context scorer.
 * Kept apart from the generated gazetteer (./gazetteer.ts) so that the cues that carry the
 * heuristics — honorifics, greeting/closing words, "lives in", legal suffixes, street words —
 * are reviewed by a person, not copied from a test-data generator. Word lists are lower case; place
 * names keep their capitals.
 */

const words = (s: string): string[] => s.split(/\s+/).filter(Boolean);

/** Titles that make the next capitalised word(s) a person ("Mr. Dupont", "Frau Weber"). */
export const HONORIFICS = words(`
  mr mrs ms miss mx dr prof sir madam dame lord lady rev fr sr sra srta srs don doña dona herr frau fräulein
  monsieur madame mademoiselle m mme mlle mm signor signora signorina sig sig.ra dott dott.ssa ing avv
  meneer mevrouw mevr dhr heer pan pani panna sr. sra. gospodin gospođa hr fru frk
  senhor senhora sr.ª herr. capt captain col colonel gen general lt sgt officer judge justice rabbi imam pastor
  father sister brother uncle aunt grandma grandpa doctor professor nurse agent detective inspector
`);

/** Words after which a capitalised word is very likely a person (greetings, sign-offs, "my name is"). */
export const PERSON_CUES_BEFORE = words(`
  dear hi hello hey hallo hola bonjour salut ciao olá ola hej hei cześć dzień witam liebe lieber sehr geehrte geehrter
  estimado estimada querido querida caro cara cher chère beste geachte
  regards thanks cheers best sincerely yours signed sign-off cordially respectfully
  grüße gruß grüßen saludos cordiales atentamente cordialement salutations distinti saluti cumprimentos abraços groeten pozdrawiam
  by from cc attn attention contact ask called named name's attendees participants
`);

/** Multi-word phrases (lower case, single spaces) that precede a person's name. */
export const PERSON_CUE_PHRASES = [
  'my name is', 'name is', 'i am', "i'm", 'this is', 'spoke with', 'spoke to', 'talked to', 'talk to', 'speak to',
  'speak with', 'contact person', 'assigned to', 'reported by', 'customer', 'client', 'patient', 'employee',
  'account holder', 'cardholder', 'card holder', 'beneficiary', 'tenant', 'passenger', 'applicant', 'manager',
  'colleague', 'wife', 'husband', 'son', 'daughter', 'mother', 'father', 'friend', 'partner', 'boss', 'ceo',
  'kind regards', 'best regards', 'warm regards', 'many thanks', 'thank you', 'yours sincerely', 'yours truly',
  'best wishes', 'mit freundlichen grüßen', 'viele grüße', 'je m’appelle', "je m'appelle", 'me llamo', 'mi chiamo',
  'ik heet', 'mein name ist', 'ich bin', 'meu nome é', 'nazywam się', 'on behalf of', 'forwarded by', 'approved by',
  'signed by', 'written by', 'sent by', 'requested by', 'created by', 'owner', 'named', 'called', 'mr', 'ms',
  'emergency contact', 'contact', 'applicant', 'attendees', 'referred by', 'met with', 'meeting with',
  // cues only before a name (as words of their own they may be a town: "Groet", or a role: "Owner")
  'met vriendelijke groet', 'vriendelijke groet', 'groetjes', 'on-call', 'oncall', 'assignee', 'reporter', 'reviewer', 'requester', 'author',
];

/** Words/phrases before a capitalised word that make it a place. */
export const LOCATION_CUE_PHRASES = [
  'lives in', 'living in', 'live in', 'located in', 'based in', 'moved to', 'moving to', 'relocated to', 'born in',
  'resides in', 'resident of', 'residing in', 'travel to', 'travelling to', 'traveling to', 'flight to', 'flying to',
  'office in', 'offices in', 'headquartered in', 'from the city of', 'city of', 'town of', 'near', 'visit',
  'visiting', 'ship to', 'shipped to', 'deliver to', 'delivered to', 'address', 'address is', 'addressed to',
  'wohnt in', 'wohne in', 'aus', 'habite à', 'habite a', 'vit à', 'vive en', 'vivo en', 'vivo a', 'abito a',
  'woont in', 'woon in', 'mora em', 'moro em', 'mieszka w', 'mieszkam w', 'in', 'to', 'from', 'at',
  'meeting in', 'meet in', 'held in', 'takes place in', 'conference in', 'trip to', 'hotel in', 'stay in', 'staying in',
  'now in', 'currently in', 'jetzt in', 'wohnt jetzt in', 'zurzeit in', 'maintenant à', 'ahora en', 'adesso a', 'nu in', 'agora em',
];

/** Legal-entity suffixes (and connectors common in firm names). */
export const ORG_SUFFIXES = words(`
  inc inc. incorporated corp corp. corporation co co. company companies llc l.l.c. llp lp ltd ltd. limited plc
  group holdings holding partners associates ventures enterprises industries international intl
  gmbh ag kg ohg ug e.v. ev mbh kgaa se sa s.a. sas sasu s.a.s. sarl s.a.r.l. sàrl eurl snc sca sem scop
  srl s.r.l. spa s.p.a. snc sas sapa bv b.v. nv n.v. vof cv
  oy oyj ab asa as aps a/s hf
  sp sp. s.c. z o.o. s.k. s.j. sp.j. sa. sl s.l. slu s.l.u. ltda ltda. eireli me epp
  pty pty. pvt pvt. bhd sdn kk k.k. tbk pt cv. jsc ojsc pjsc ooo zao ao
  hermanos hnos hijos asociados associados figli fratelli frères freres söhne soehne gebrüder gebr and_sons
  foundation stiftung fondation fundación fundacion institute institut university universität université universidad
  bank bancorp capital consulting solutions systems technologies labs laboratories logistics partners
`);

/** Words that are not legal suffixes but often end an organisation name ("Acme Logistics"). */
export const ORG_TAIL_WORDS = words(`
  group gruppe groupe grupo gruppo holdings partners associates consulting solutions systems technologies labs logistics
  bank insurance versicherung assurances seguros hospital clinic klinikum clinique school college academy
  restaurant hotel bakery pharmacy apotheke agency agentur studio services dienstleistungen
`);

/** Phrases before a capitalised word that make it an organisation. */
export const ORG_CUE_PHRASES = [
  'works at', 'working at', 'work at', 'works for', 'working for', 'work for', 'employed by', 'employed at',
  'employer', 'company', 'firm', 'vendor', 'supplier', 'contractor', 'joined', 'hired by', 'client of',
  'arbeitet bei', 'travaille chez', 'trabaja en', 'trabaja para', 'lavora presso', 'werkt bij', 'trabalha na',
  'trabalha em', 'pracuje w', 'insurer', 'bank', 'clinic', 'hospital', 'billed by', 'charged by', 'invoiced by',
  'invoice from', 'ordered from', 'bought from', 'purchased from', 'follow up with', 'contract with',
];

/** Street-type words (stand-alone or as the end of a compound: "Hauptstraße", "Kerkstraat"). */
export const STREET_WORDS = words(`
  street st st. road rd rd. avenue ave ave. av av. boulevard blvd blvd. lane ln ln. drive dr dr. court ct ct. place pl pl.
  square sq terrace ter way parkway pkwy highway hwy circle cir crescent cres close grove gardens garden row mews
  walk hill heights park view alley trail path plaza pike turnpike loop oval bypass expressway freeway causeway quay wharf
  route rte
  straße strasse str str. gasse weg allee platz ring damm ufer chaussee steig pfad markt
  rue avenue boulevard bd bd. chemin impasse allée allee place quai cours passage route voie sentier faubourg
  calle c/ avenida avda avda. av. paseo plaza camino carretera ronda travesía travesia rambla glorieta callejón
  via viale piazza piazzale corso vicolo largo strada contrada borgo lungomare incrocio
  rua avenida travessa alameda largo praça praca estrada rodovia marginal
  straat laan weg plein gracht kade dijk singel steeg hof pad plantsoen markt
  ulica ul ul. aleja al. al plac osiedle os. skwer rondo rynek
  gatan vägen gata väg vej gade allé plass veien gate
  utca út tér körút
`);

/** Compound endings that make a single word a street name ("Kirchstraße", "Kerkstraat", "Storgatan"). */
export const STREET_COMPOUND_ENDINGS = words(`
  straße strasse str. gasse weg allee platz ring damm ufer steig
  straat laan weg plein gracht kade dijk singel steeg plantsoen
  gatan vägen gata väg vej gade veien gaten
`);

/** Address unit words ("Apt. 4", "Suite 200", "Zimmer 12", "2º C"). */
export const ADDRESS_UNIT_WORDS = words(`
  apt apt. apartment suite ste ste. unit flat floor fl fl. room rm bldg building po box
  zimmer wohnung etage stock appartement app. app étage etage bâtiment bat.
  og eg dg ug og. eg. dg. izda izda. izq izq. izqda izqda. dcha dcha. dcha dra dra. bajo bajos pral pral. principal ático atico entresuelo
  piso piano puerta escalera apartamento apto apto. dpto dpto. depto departamento appartamento interno scala
  casa sala bloco andar lote m. lok. lokal mieszkanie hoog achter boven bis huis
`);

/**
 * Capitalised words that are never names on their own: sentence starters, pronouns, weekdays,
 * months, greetings, and technical words. Months/days are also reported by DATE_TIME instead.
 */
export const NOT_NAMES = words(`
  the a an this that these those there here it its i we you he she they me us them my our your his her their
  and or but if so because while when where what which who whom whose why how yes no not ok okay please thanks thank
  hello hi hey dear regards best cheers sincerely yours kind warm many greetings good morning afternoon evening night
  monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday
  january february march april may june july august september october november december
  jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun
  montag dienstag mittwoch donnerstag freitag samstag sonntag januar februar märz mai juni juli oktober dezember
  lundi mardi mercredi jeudi vendredi samedi dimanche janvier février mars avril mai juin juillet août septembre octobre novembre décembre
  lunes martes miércoles jueves viernes sábado domingo enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre
  customer client support team admin administrator user users manager order invoice account ticket issue bug error
  street road avenue city country state province county region district north south east west central new old
  hotel airport station university hospital school bank company office department
  api http https json xml html css sql url uri id ids uuid ip dns tls ssl ssh tcp udp cpu gpu ram ssd hdd os
  aws gcp azure s3 ec2 eks ecs gke aks rds sqs sns iam vpc cdn k8s kubernetes docker linux windows macos ios android
  python java javascript typescript rust golang node nodejs react vue angular postgres postgresql mysql redis kafka nginx
  github gitlab slack jira confluence zoom teams excel word powerpoint outlook gmail chrome firefox safari
  gpt chatgpt openai claude gemini llama mistral llm ai ml nlp
  mr mrs ms dr prof sir madam
  note notes info fyi asap re fwd subject from to cc bcc date sent
  step steps version release update patch fix feature test tests build deploy production staging dev
  su sus el la los las le les il lo gli der die das den dem des ein eine einen un une uno una het een o os as
  ik je tu elle nous vous ils elles wir ihr ich du er es yo ella nosotros ustedes eu ele ela nós voi noi lui lei loro
  mi ti si se ma mon ton son sa ta mes tes ses nos vos leur mein dein sein unser mio tuo meu teu seu sua
  nuestro nuestra vuestro bitte danke merci gracias grazie obrigado obrigada dank bedankt dziękuję proszę
  hallo bonjour salut hola ciao olá ola hej hei beste liebe lieber sehr geehrte geehrter estimado estimada
  call ask tell email e-mail contact send ping meet message text invite forward thank welcome remind notify inform let
  have get see reply respond please kindly ensure check update confirm tag assign cc bcc
`);

/** Tokens that look like identifiers but are product/service/version names: never PII on their own. */
export const TECH_TERMS = words(`
  c4 s3 ec2 eks ecs gke aks rds sqs sns iam vpc k8s gpt-4 gpt-4o gpt-3.5 gpt-5 o1 o3 o4-mini h100 a100 v100 t4 l4 m1 m2 m3 m4
  x86 x86_64 arm64 aarch64 amd64 utf-8 utf8 sha1 sha256 sha-256 md5 aes-256 rsa-2048 ipv4 ipv6 http2 http/2 tls1.3 es2022 es6
  p95 p99 p50 ci cd iso-8601 rfc3339 base64 gzip brotli 4k 8k 1080p 5g 4g lte
`);

// ---- curated names and places (broad, cross-cultural; complements the generated gazetteer) ----

export const CURATED_FIRST_NAMES = words(`
  james john robert michael william david richard joseph thomas charles christopher daniel matthew anthony mark donald steven paul
  andrew joshua kenneth kevin brian george timothy ronald edward jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry
  justin scott brandon benjamin samuel gregory alexander frank patrick raymond jack dennis jerry tyler aaron jose adam nathan henry
  douglas zachary peter kyle ethan walter noah jeremy christian keith roger terry gerald harold sean austin carl arthur lawrence
  dylan jesse jordan bryan billy joe bruce gabriel logan albert willie alan juan wayne elijah randy roy vincent ralph eugene russell
  bobby mason philip louis liam oliver lucas mateo levi sebastian jackson aiden owen wyatt luke grayson isaac theodore hudson
  mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty margaret sandra ashley kimberly emily
  donna michelle carol amanda dorothy melissa deborah stephanie rebecca sharon laura cynthia kathleen amy angela shirley anna
  brenda pamela emma nicole helen samantha katherine christine debra rachel carolyn janet catherine maria heather diane ruth julie
  olivia joyce virginia victoria kelly lauren christina joan evelyn judith megan andrea cheryl hannah jacqueline martha gloria teresa
  ann sara madison frances kathryn janice jean abigail alice judy sophia grace denise amber doris marilyn danielle beverly isabella
  theresa diana natalie brittany charlotte marie kayla alexis lori ava mia harper amelia luna chloe penelope layla zoe nora lily
  eleanor hazel aurora violet stella ellie paisley skylar aria scarlett addison aubrey savannah brooklyn claire
  mohammed muhammad mohamed ahmed ahmad ali omar hassan hussein hussain ibrahim yusuf youssef khalid mustafa mahmoud abdullah abdul
  karim tariq hamza bilal imran faisal rashid salim samir nabil walid ziad fatima aisha aysha zainab maryam mariam layla leila noor
  nour amina yasmin yasmine huda salma hana rania dina farah sana zahra khadija
  wei jie jun hao lei yang ming hui li na ying xin yan jing lin mei fang ping hong xiaoming xiaoli zhiwei jianguo
  hiroshi takashi kenji yuki haruto yuto sota ren akira daiki kaito yui hina aoi sakura yuna mei rin miyu haruka naoko keiko yoko
  minjun seojun jiho doyun jiwoo seoyeon jiyeon minji soyeon hyun sung jin young eun
  aarav vivaan aditya arjun rohan rahul amit anil sunil rajesh ramesh suresh vijay sanjay deepak manoj ravi arun kiran priya
  ananya aditi pooja neha sneha divya kavya anjali shreya lakshmi sunita anita meena rekha geeta sita radha
  nguyen anh minh thanh tuan hung duc linh trang huong thao mai lan
  olumide chinedu emeka ngozi chiamaka adebayo oluwaseun tunde kemi folake kwame kofi ama akosua yaw abena themba sipho thabo
  lerato zanele nomvula jabulani
  ivan dmitri dmitry sergei sergey alexei alexey andrei andrey nikolai vladimir mikhail igor oleg pavel yuri boris olga natalia
  natasha tatiana svetlana irina elena ekaterina anastasia yulia marina ksenia daria
  piotr pawel paweł krzysztof tomasz marcin michał michal jakub kamil łukasz lukasz agnieszka katarzyna małgorzata malgorzata
  magdalena joanna ewa zofia
  hans jürgen juergen klaus wolfgang dieter helmut uwe stefan andreas thomas matthias tobias florian lukas maximilian felix jonas
  leon finn ursula ingrid petra sabine monika gabriele claudia susanne anke birgit heike silke katrin julia lena leonie
  jean pierre jacques michel philippe alain françois francois nicolas olivier christophe laurent sébastien sebastien julien
  guillaume antoine mathieu baptiste théo theo hugo louis camille chloé manon léa lea inès ines sophie isabelle nathalie
  sylvie céline celine aurélie amélie amelie margaux
  josé jose antonio manuel francisco javier carlos miguel rafael pedro ángel angel alejandro fernando pablo sergio jorge luis
  diego álvaro alvaro raúl raul carmen josefa isabel dolores pilar mercedes rosario lucía lucia paula marta cristina sofía
  valentina camila gabriela daniela ximena guadalupe
  giuseppe giovanni francesco luca marco alessandro matteo lorenzo andrea stefano paolo roberto giulia chiara francesca federica
  alessia martina elisa silvia
  joão joao paulo tiago rodrigo bruno gustavo felipe leonardo thiago ana beatriz mariana larissa juliana fernanda letícia leticia
  jan pieter dirk joost bram sander thijs daan sem ruben noah emma sanne lotte fleur anouk iris femke
  lars anders nils erik magnus björn bjorn olof karl sven johan astrid ingrid sigrid freya elsa saga linnea maja
  mehmet mustafa ahmet emre burak can murat ayşe ayse fatma elif zeynep emine
  giorgos nikos kostas yannis eleni maria katerina dimitra
  seán sean ciarán ciaran niamh siobhán siobhan aoife sinéad sinead
  tomás tomas jiří jiri petr jana eva lucie
  kai alex sam chris jamie robin taylor morgan casey riley jordan avery quinn charlie
`);

export const CURATED_SURNAMES = words(`
  smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez wilson anderson thomas taylor
  moore jackson martin lee perez thompson white harris sanchez clark ramirez lewis robinson walker young allen king wright scott
  torres nguyen hill flores green adams nelson baker hall rivera campbell mitchell carter roberts gomez phillips evans turner diaz
  parker cruz edwards collins reyes stewart morris morales murphy cook rogers gutierrez ortiz morgan cooper peterson bailey reed
  kelly howard ramos kim cox ward richardson watson brooks chavez wood james bennett gray mendoza ruiz hughes price alvarez castillo
  sanders patel myers long ross foster jimenez powell jenkins perry russell sullivan bell coleman butler henderson barnes fisher
  vasquez simmons romero jordan patterson alexander hamilton graham reynolds griffin wallace moreno west cole hayes bryant herrera
  gibson ellis tran medina aguilar stevens murray ford castro marshall owens harrison fernandez mcdonald woods washington kennedy
  wells vargas henry chen freeman webb tucker guzman burns crawford olson simpson porter hunter gordon mendez silva shaw snyder
  mason dixon munoz hunt hicks holmes palmer wagner black robertson boyd rose stone salazar fox warren mills meyer rice schmidt
  garza daniels ferguson nichols stephens soto weaver ryan gardner payne grant dunn kelley spencer hawkins arnold pierce hansen
  o'brien obrien o'connor oconnor o'neill oneill mcarthur macdonald mckenzie
  müller mueller schmidt schneider fischer weber meyer wagner becker schulz hoffmann schäfer schaefer koch bauer richter klein wolf
  schröder schroeder neumann schwarz zimmermann braun krüger krueger hofmann hartmann lange schmitt werner krause meier lehmann
  martin bernard dubois thomas robert richard petit durand leroy moreau simon laurent lefebvre michel garcia david bertrand roux
  vincent fournier morel girard andré andre lefèvre mercier dupont lambert bonnet françois fontaine rousseau
  garcía fernández gonzález rodríguez lópez martínez sánchez pérez gómez martín jiménez ruiz hernández díaz moreno muñoz álvarez
  romero alonso gutiérrez navarro torres domínguez vázquez ramos gil ramírez serrano blanco molina morales suárez ortega delgado
  rossi russo ferrari esposito bianchi romano colombo ricci marino greco bruno gallo conti de luca mancini costa giordano rizzo
  lombardi moretti barbieri fontana santoro mariani rinaldi caruso ferrara galli martini leone longo gentile
  silva santos oliveira souza sousa rodrigues ferreira alves pereira lima gomes costa ribeiro martins carvalho almeida lopes
  soares fernandes vieira barbosa rocha dias nascimento andrade moreira nunes marques machado mendes freitas cardoso
  de jong jansen de vries van den berg van dijk bakker janssen visser smit meijer de boer mulder de groot bos vos peters
  hendriks van leeuwen dekker brouwer de wit dijkstra smits de graaf van der meer
  nowak kowalski wiśniewski wisniewski wójcik wojcik kowalczyk kamiński kaminski lewandowski zieliński zielinski szymański
  woźniak dąbrowski kozłowski jankowski mazur kwiatkowski krawczyk piotrowski grabowski
  ivanov smirnov kuznetsov popov vasiliev petrov sokolov mikhailov novikov fedorov morozov volkov alekseev lebedev semenov
  egorov pavlov kozlov stepanov nikolaev orlov andreev makarov nikitin zakharov ivanova smirnova petrova
  wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo zheng liang xie song tang han feng deng cao
  sato suzuki takahashi tanaka watanabe ito yamamoto nakamura kobayashi kato yoshida yamada sasaki yamaguchi matsumoto inoue
  kimura hayashi shimizu yamazaki mori abe ikeda hashimoto
  kim lee park choi jung kang cho yoon jang lim han oh seo shin kwon hwang ahn song
  nguyen tran le pham hoang huynh phan vu vo dang bui do ho ngo duong ly
  patel sharma singh kumar gupta shah mehta iyer nair reddy rao joshi desai agarwal verma jain chopra kapoor malhotra bose das
  banerjee chatterjee mukherjee ghosh pillai menon khan ali ahmed hussain rahman chowdhury
  okafor okoye adeyemi adebayo olawale eze nwosu obi mensah boateng owusu asante nkosi dlamini ndlovu khumalo mokoena
  yilmaz kaya demir şahin sahin çelik celik yıldız yildiz yıldırım öztürk ozturk aydın aydin özdemir arslan doğan dogan
  andersson johansson karlsson nilsson eriksson larsson olsson persson svensson gustafsson hansen johansen olsen larsen
  nielsen jensen pedersen andersen christensen virtanen korhonen nieminen mäkinen
  papadopoulos papadakis georgiou nikolaou
  murphy kelly byrne walsh ryan o'sullivan doyle mccarthy gallagher doherty kennedy lynch murray quinn moore
  novák novak svoboda novotný dvořák dvorak černý horváth horvath nagy tóth kovács szabó
  cohen levi mizrahi peretz friedman
`);

/** Large and well-known cities worldwide (plus the IANA time-zone cities added by the generator). */
export const CURATED_CITIES = [
  'New York', 'Los Angeles', 'Chicago', 'Houston', 'Phoenix', 'Philadelphia', 'San Antonio', 'San Diego', 'Dallas', 'San Jose',
  'Austin', 'Jacksonville', 'San Francisco', 'Columbus', 'Fort Worth', 'Indianapolis', 'Charlotte', 'Seattle', 'Denver',
  'Washington', 'Boston', 'Nashville', 'Detroit', 'Portland', 'Las Vegas', 'Memphis', 'Louisville', 'Baltimore', 'Milwaukee',
  'Albuquerque', 'Tucson', 'Fresno', 'Sacramento', 'Atlanta', 'Miami', 'Oakland', 'Minneapolis', 'Tulsa', 'Cleveland',
  'Pittsburgh', 'Cincinnati', 'Orlando', 'Tampa', 'St. Louis', 'Salt Lake City', 'Honolulu', 'Anchorage', 'New Orleans',
  'Toronto', 'Montreal', 'Montréal', 'Vancouver', 'Calgary', 'Ottawa', 'Edmonton', 'Winnipeg', 'Quebec City', 'Halifax',
  'Mexico City', 'Ciudad de México', 'Guadalajara', 'Monterrey', 'Bogotá', 'Bogota', 'Lima', 'Santiago', 'Buenos Aires',
  'São Paulo', 'Sao Paulo', 'Rio de Janeiro', 'Brasília', 'Brasilia', 'Salvador', 'Fortaleza', 'Belo Horizonte', 'Manaus',
  'Curitiba', 'Recife', 'Porto Alegre', 'Caracas', 'Quito', 'Montevideo', 'Asunción', 'La Paz', 'Havana', 'Panama City',
  'London', 'Birmingham', 'Manchester', 'Liverpool', 'Leeds', 'Glasgow', 'Edinburgh', 'Bristol', 'Cardiff', 'Belfast',
  'Dublin', 'Cork', 'Paris', 'Marseille', 'Lyon', 'Toulouse', 'Nice', 'Nantes', 'Strasbourg', 'Montpellier', 'Bordeaux',
  'Lille', 'Berlin', 'Hamburg', 'München', 'Munich', 'Köln', 'Cologne', 'Frankfurt', 'Stuttgart', 'Düsseldorf', 'Dortmund',
  'Essen', 'Leipzig', 'Bremen', 'Dresden', 'Hannover', 'Nürnberg', 'Nuremberg', 'Wien', 'Vienna', 'Graz', 'Linz', 'Salzburg',
  'Zürich', 'Zurich', 'Genève', 'Geneva', 'Basel', 'Bern', 'Lausanne', 'Madrid', 'Barcelona', 'Valencia', 'Sevilla', 'Seville',
  'Zaragoza', 'Málaga', 'Malaga', 'Bilbao', 'Lisboa', 'Lisbon', 'Porto', 'Roma', 'Rome', 'Milano', 'Milan', 'Napoli', 'Naples',
  'Torino', 'Turin', 'Palermo', 'Genova', 'Genoa', 'Bologna', 'Firenze', 'Florence', 'Venezia', 'Venice', 'Amsterdam',
  'Rotterdam', 'Den Haag', 'The Hague', 'Utrecht', 'Eindhoven', 'Brussel', 'Bruxelles', 'Brussels', 'Antwerpen', 'Antwerp',
  'Gent', 'Ghent', 'Luxembourg', 'København', 'Copenhagen', 'Aarhus', 'Stockholm', 'Göteborg', 'Gothenburg', 'Malmö', 'Oslo',
  'Bergen', 'Helsinki', 'Tampere', 'Reykjavík', 'Reykjavik', 'Warszawa', 'Warsaw', 'Kraków', 'Krakow', 'Łódź', 'Wrocław',
  'Poznań', 'Gdańsk', 'Praha', 'Prague', 'Brno', 'Bratislava', 'Budapest', 'Bucureşti', 'București', 'Bucharest',
  'Cluj-Napoca', 'Sofia', 'Beograd', 'Belgrade', 'Zagreb', 'Ljubljana', 'Sarajevo', 'Skopje', 'Tirana', 'Athens', 'Athína',
  'Thessaloniki', 'İstanbul', 'Istanbul', 'Ankara', 'İzmir', 'Izmir', 'Kyiv', 'Kiev', 'Kharkiv', 'Odesa', 'Lviv', 'Minsk',
  'Vilnius', 'Riga', 'Tallinn', 'Moscow', 'Moskva', 'Saint Petersburg', 'St. Petersburg', 'Novosibirsk', 'Yekaterinburg',
  'Kazan', 'Tbilisi', 'Yerevan', 'Baku', 'Tel Aviv', 'Jerusalem', 'Haifa', 'Beirut', 'Amman', 'Damascus', 'Baghdad', 'Tehran',
  'Riyadh', 'Jeddah', 'Mecca', 'Dubai', 'Abu Dhabi', 'Doha', 'Kuwait City', 'Muscat', 'Cairo', 'Alexandria', 'Casablanca',
  'Rabat', 'Marrakesh', 'Tunis', 'Algiers', 'Lagos', 'Abuja', 'Kano', 'Ibadan', 'Accra', 'Kumasi', 'Dakar', 'Abidjan',
  'Nairobi', 'Mombasa', 'Addis Ababa', 'Kampala', 'Dar es Salaam', 'Kigali', 'Johannesburg', 'Cape Town', 'Durban', 'Pretoria',
  'Luanda', 'Kinshasa', 'Harare', 'Lusaka', 'Karachi', 'Lahore', 'Islamabad', 'Delhi', 'New Delhi', 'Mumbai', 'Bombay',
  'Bangalore', 'Bengaluru', 'Hyderabad', 'Chennai', 'Kolkata', 'Pune', 'Ahmedabad', 'Jaipur', 'Lucknow', 'Kochi', 'Dhaka',
  'Chittagong', 'Kathmandu', 'Colombo', 'Beijing', 'Shanghai', 'Guangzhou', 'Shenzhen', 'Chengdu', 'Chongqing', 'Wuhan',
  'Tianjin', "Xi'an", 'Hangzhou', 'Nanjing', 'Hong Kong', 'Macau', 'Taipei', 'Kaohsiung', 'Tokyo', 'Osaka', 'Kyoto',
  'Yokohama', 'Nagoya', 'Sapporo', 'Fukuoka', 'Kobe', 'Seoul', 'Busan', 'Incheon', 'Pyongyang', 'Ulaanbaatar', 'Hanoi',
  'Ho Chi Minh City', 'Saigon', 'Da Nang', 'Bangkok', 'Chiang Mai', 'Phnom Penh', 'Vientiane', 'Yangon', 'Kuala Lumpur',
  'Singapore', 'Jakarta', 'Surabaya', 'Bandung', 'Manila', 'Quezon City', 'Cebu', 'Sydney', 'Melbourne', 'Brisbane', 'Perth',
  'Adelaide', 'Canberra', 'Auckland', 'Wellington', 'Christchurch',
];

/** US state names and postal codes: "Springfield, IL 62704". */
export const US_STATES = [
  'Alabama', 'Alaska', 'Arizona', 'Arkansas', 'California', 'Colorado', 'Connecticut', 'Delaware', 'Florida', 'Georgia',
  'Hawaii', 'Idaho', 'Illinois', 'Indiana', 'Iowa', 'Kansas', 'Kentucky', 'Louisiana', 'Maine', 'Maryland', 'Massachusetts',
  'Michigan', 'Minnesota', 'Mississippi', 'Missouri', 'Montana', 'Nebraska', 'Nevada', 'New Hampshire', 'New Jersey',
  'New Mexico', 'New York', 'North Carolina', 'North Dakota', 'Ohio', 'Oklahoma', 'Oregon', 'Pennsylvania', 'Rhode Island',
  'South Carolina', 'South Dakota', 'Tennessee', 'Texas', 'Utah', 'Vermont', 'Virginia', 'Washington', 'West Virginia',
  'Wisconsin', 'Wyoming',
];
export const US_STATE_CODES = words(`AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC`);
